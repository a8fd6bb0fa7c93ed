package publisher

import (
	"context"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zlog/zlog/schema"
)

// BenchmarkPublish measures Publish through to a draining XSUB socket.
func BenchmarkPublish(b *testing.B) {
	endpoint := freeEndpointB(b)
	col, _ := zmq.NewSocket(zmq.XSUB)
	col.SetLinger(0)
	col.Bind(endpoint)
	col.SendBytes([]byte{1}, 0)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		col.SetRcvtimeo(50 * time.Millisecond)
		for {
			select {
			case <-stop:
				col.Close()
				done <- n
				return
			default:
			}
			if _, err := col.RecvMessageBytes(0); err == nil {
				n++
			}
		}
	}()
	p, err := New(Options{Endpoint: endpoint}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ev := schema.Event{Service: "downcase", Level: schema.LevelInfo, Message: "lower case of HelloWorld is helloworld",
		Fields: schema.Fields{"param": "HelloWorld", "answer": "helloworld"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Publish(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	close(stop)
	<-done
}
