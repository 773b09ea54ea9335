package audit

// BreakActiveSegmentForTest closes the active segment underneath the store,
// as a disk that went away would leave it.
func BreakActiveSegmentForTest(s *FileStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.active.Close()
}

// SetSyncsInFlight changes how many fsyncs a chain opened afterwards runs
// at once; it returns the previous value.
func SetSyncsInFlight(n int) int {
	old := syncsInFlight
	syncsInFlight = n
	return old
}
