package api

import "path/filepath"

// SocketName is the file in a collector's data directory where it
// serves the query API to logq on the same host. Whoever may open that
// directory may read the index files in it, so the socket asks no token.
const SocketName = "query.sock"

// SocketPath is the query socket of the collector whose data directory
// is dataDir.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }
