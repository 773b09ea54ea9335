package audit

// BreakActiveSegmentForTest closes the active segment underneath the store,
// as a disk that went away would leave it.
func BreakActiveSegmentForTest(s *FileStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.active.Close()
}
