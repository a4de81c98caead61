package storage

// LeafLocation is where a stored leaf is: its log and its index in that log.
type LeafLocation struct {
	TreeID int64
	Index  uint64 // the log's own index (not the virtual one)
}
