package query

// seriesMap holds a value per series, looked up per row: series ids are a
// partition's row ids, small and dense, so a slice holds them (a map
// lookup per row was a sixth of a histogram by level, and a twelfth of a
// regex search, measured); ids past denseSeries, which a damaged file
// could hold, go to a map.
type seriesMap[T any] struct {
	dense  []T
	sparse map[int64]T
}

const denseSeries = 1 << 20

func (m *seriesMap[T]) set(id int64, v T) {
	if id < 0 || id >= denseSeries {
		if m.sparse == nil {
			m.sparse = map[int64]T{}
		}
		m.sparse[id] = v
		return
	}
	if id >= int64(len(m.dense)) {
		m.dense = append(m.dense, make([]T, int(id)+1-len(m.dense))...)
	}
	m.dense[id] = v
}

// get is id's value, the zero value when it has none.
func (m *seriesMap[T]) get(id int64) T {
	if id >= 0 && id < int64(len(m.dense)) {
		return m.dense[id]
	}
	return m.sparse[id]
}

// seriesSet is a set of series ids, asked once per row: membership is a
// seriesMap (a map lookup per row was a fifth of a histogram of errors
// over a day, measured); ids lists the members.
type seriesSet struct {
	in  seriesMap[bool]
	ids map[int64]bool
}

func (s *seriesSet) add(id int64) {
	s.in.set(id, true)
	if s.ids == nil {
		s.ids = map[int64]bool{}
	}
	s.ids[id] = true
}

func (s *seriesSet) remove(id int64) {
	if s.ids[id] {
		s.in.set(id, false)
		delete(s.ids, id)
	}
}

func (s *seriesSet) has(id int64) bool { return s.in.get(id) }
func (s *seriesSet) len() int          { return len(s.ids) }
