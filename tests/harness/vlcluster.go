package harness

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// VLCluster is a VictoriaLogs cluster on loopback: storage nodes, one
// vlinsert and one vlselect, each a process that can be killed and
// started again on its own port and data.
type VLCluster struct {
	t                    testing.TB
	work, bin            string
	procs                map[string]*Proc
	args                 map[string][]string
	Storage              []string // names of the storage nodes: vlstorage-1, …
	InsertURL, SelectURL string
}

// StartVLCluster starts storageNodes storage nodes flushing every
// flushInterval, a vlinsert and a vlselect, and waits until it answers.
func StartVLCluster(t testing.TB, work string, storageNodes int, flushInterval string) *VLCluster {
	t.Helper()
	c := &VLCluster{t: t, work: work, bin: VictoriaLogsBinary(t), procs: map[string]*Proc{}, args: map[string][]string{}}
	var addrs []string
	for i := 1; i <= storageNodes; i++ {
		name, port := fmt.Sprintf("vlstorage-%d", i), FreePort(t)
		addrs = append(addrs, "127.0.0.1:"+port)
		c.Storage = append(c.Storage, name)
		c.args[name] = []string{"-storageDataPath=" + filepath.Join(work, name), "-httpListenAddr=127.0.0.1:" + port,
			"-retentionPeriod=100y", "-loggerLevel=WARN", "-inmemoryDataFlushInterval=" + flushInterval}
	}
	nodes := "-storageNode=" + strings.Join(addrs, ",")
	ip, sp := FreePort(t), FreePort(t)
	c.args["vlinsert"] = []string{nodes, "-httpListenAddr=127.0.0.1:" + ip, "-select.disable", "-loggerLevel=WARN"}
	c.args["vlselect"] = []string{nodes, "-httpListenAddr=127.0.0.1:" + sp, "-insert.disable", "-loggerLevel=WARN"}
	c.InsertURL, c.SelectURL = "http://127.0.0.1:"+ip, "http://127.0.0.1:"+sp
	for name := range c.args {
		c.Start(name)
	}
	c.WaitQueryable()
	return c
}

// Start (re)starts one node.
func (c *VLCluster) Start(name string) {
	c.procs[name] = Start(c.t, c.work, name, c.bin, c.args[name]...)
}

// WaitQueryable waits until vlselect answers a query from every node.
func (c *VLCluster) WaitQueryable() {
	c.t.Helper()
	Eventually(c.t, time.Minute, "the cluster answering", func() (bool, string) {
		resp, err := http.PostForm(c.SelectURL+"/select/logsql/query", url.Values{"query": {"* | stats count() as n"}})
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

// Signal sends sig to a node; after SIGKILL it waits for the node's end.
func (c *VLCluster) Signal(name string, sig syscall.Signal) {
	c.procs[name].Cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		c.procs[name].Wait(c.t, 10*time.Second)
	}
}

// Pid is a node's process id.
func (c *VLCluster) Pid(name string) int { return c.procs[name].Cmd.Process.Pid }
