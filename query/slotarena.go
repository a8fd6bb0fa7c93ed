package query

import (
	"syscall"
	"unsafe"
)

// slotArena hands a tally's count tables their slots from memory mapped
// outside the Go heap and advised into huge pages. A top by user over a
// day fills tables of several MiB per worker, and on this VM faulting
// them in 4 KiB pages was a tenth of the query (about 5,400 of its 9,600
// page faults, measured); huge pages fault 512 times less often. Slots
// hold no pointers, so the collector need not scan them.
//
// Tables are bumped out of one reservation and never given back one by
// one (a grown table's old slots stay, at most as much again as the
// last); the whole mapping goes when the tally that owns it is merged
// away or has made its records (tally.dropStrs), or else when it is
// collected (tally.useArena). When the reservation is spent, or cannot be
// made, slots come from the Go heap as before. One goroutine uses it.
type slotArena struct {
	reserved bool
	mem      []byte // the reservation, hugePage-aligned
	raw      []byte // as mapped, for munmap
	used     int
	size     int // of the reservation; 0 is arenaReserve
}

const (
	hugePage = 2 << 20
	// arenaReserve is address space, not memory: pages are only backed
	// when a table first writes them. maxHeld keys fill about 170 MiB of
	// tables at the lowest load, and as much again of outgrown ones.
	arenaReserve = 1 << 30
)

// arenaSlice returns n zero values of T from a, nil when a is nil or has
// no room. T must hold no pointers: the collector does not see the arena.
func arenaSlice[T any](a *slotArena, n int) []T {
	if a == nil {
		return nil
	}
	if !a.reserved {
		a.reserve()
	}
	var zero T
	size := (n*int(unsafe.Sizeof(zero)) + 63) &^ 63 // each a cache line apart
	if a.mem == nil || n == 0 || a.used+size > len(a.mem) {
		return nil
	}
	b := a.mem[a.used : a.used+size]
	a.used += size
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

func (a *slotArena) reserve() {
	a.reserved = true
	if a.size == 0 {
		a.size = arenaReserve
	}
	raw, err := syscall.Mmap(-1, 0, a.size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return // the heap it is
	}
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % hugePage); r != 0 {
		off = hugePage - r
	}
	a.raw, a.mem = raw, raw[off:off+a.size]
	// Without transparent huge pages (or with them never), this fails or
	// does nothing, and the arena is plain anonymous memory.
	syscall.Madvise(a.mem, syscall.MADV_HUGEPAGE)
}

// free unmaps the arena; no slot of it may be used after.
func (a *slotArena) free() {
	if a.raw != nil {
		syscall.Munmap(a.raw)
		a.raw, a.mem = nil, nil
	}
}
