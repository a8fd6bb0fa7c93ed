// Package fieldstest makes field sets for the tests of what writes and
// reads fields as JSON.
package fieldstest

import (
	"fmt"
	"math/rand/v2"

	"github.com/zlog/zlog/schema"
)

// alphabet holds what JSON escapes and what it does not, and the
// characters of its syntax.
var alphabet = []rune("abz09_-./:,{}<>&\"\\ \t\x7f\x1fé")

// Random returns n field sets of up to 20 fields, the same for the same
// seed: keys and strings from alphabet, values of every type a field
// holds.
func Random(seed uint64, n int) []schema.Fields {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]schema.Fields, 0, n)
	for range n {
		f := schema.Fields{}
		for range 1 + r.IntN(20) {
			var k []rune
			for range r.IntN(6) {
				k = append(k, alphabet[r.IntN(len(alphabet))])
			}
			switch r.IntN(4) {
			case 0:
				f[string(k)] = string(k) + fmt.Sprint(r.IntN(100))
			case 1:
				f[string(k)] = r.Int64() - r.Int64()
			case 2:
				f[string(k)] = r.IntN(2) == 0
			case 3:
				f[string(k)] = r.NormFloat64() * 1e6
			}
		}
		out = append(out, f)
	}
	return out
}
