package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
)

// FileOptions configure the embedded store.
type FileOptions struct {
	// SegmentBytes is the size after which a new segment file is started.
	SegmentBytes int64
	// ReadOnly opens without the writer's lock and without repairing a torn
	// final line: for verifying or exporting a log that a running gateway
	// owns, or a copy of it. Write and AddCheckpoint fail.
	ReadOnly bool
	Logger   *slog.Logger
}

// DefaultSegmentBytes is the default segment size.
const DefaultSegmentBytes = 16 << 20

const (
	checkpointsFile = "checkpoints.ndjson"
	lockName        = "LOCK"
)

var segmentName = regexp.MustCompile(`^([0-9]{6,})\.log$`)

// FileStore is the embedded store: append-only NDJSON segment files
// (000001.log, 000002.log, …), one canonical event per line, and the signed
// checkpoints in checkpoints.ndjson beside them.
//
// The active segment is preallocated ahead of its lines with zeros that are
// written and fsynced before any line goes there, so that making a group
// durable changes no metadata and one fdatasync suffices (no inode write;
// gateway/ARCHITECTURE.md, Audit). A segment's lines end at its first zero
// byte, which no line holds (JSON escapes control characters). A closed
// segment, and the active one on a clean close, is cut to its lines.
//
// On open it checks the joints between segments and the whole chain of the
// last one, and cuts the last segment after its last complete line: what
// follows is a zero tail, or a torn line or lines left by a crash, none of
// which was acknowledged. Any other inconsistency refuses the open: an
// operator must look, with `ura audit verify`.
type FileStore struct {
	dir  string
	opts FileOptions
	log  *slog.Logger
	lock *os.File

	wmu sync.Mutex // one Write, WriteNext or AddCheckpoint at a time
	// syncMu is held shared by each Sync under way and exclusively while
	// the active segment is replaced, so that no fsync meets a closed file.
	syncMu sync.RWMutex

	mu   sync.RWMutex
	segs []segment
	// head is the last entry readers may see: durable, and published.
	head Head
	// written is the last entry written, durable or not (guarded by mu).
	written    Head
	active     *os.File
	activeSize int64
	// prepared is the active segment's file size: the bytes from
	// activeSize to it are zeros, written and made durable before any
	// entry goes there (the writer's, under wmu).
	prepared int64
	cps      []SignedCheckpoint
	cpFile   *os.File
}

type segment struct {
	num  int
	path string
	// first is the seq of the segment's first line (head+1 while empty);
	// zero when opened read-only, where nothing in the files is trusted.
	first int64
}

var _ pipelinedStore = (*FileStore)(nil)

// OpenFileStore opens (creating if needed) the log in dir.
func OpenFileStore(dir string, opts FileOptions) (*FileStore, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &FileStore{dir: dir, opts: opts, log: opts.Logger, head: Head{Hash: ZeroHash}}
	if opts.ReadOnly {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("audit log %s: %w", dir, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("audit log %s: not a directory", dir)
		}
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("audit log %s: %w", dir, err)
		}
		lock, err := lockFile(filepath.Join(dir, lockName))
		if err != nil {
			return nil, fmt.Errorf("audit log %s: %w", dir, err)
		}
		s.lock = lock
	}
	if err := s.open(); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("audit log %s: %w", dir, err)
	}
	return s, nil
}

func (s *FileStore) open() error {
	segs, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	s.segs = segs
	if s.opts.ReadOnly {
		return nil
	}
	for i, sg := range segs {
		if sg.num != i+1 {
			return fmt.Errorf("segment %06d.log is missing (found %s); refusing to open", i+1, filepath.Base(sg.path))
		}
	}
	// Joints: each closed segment must be non-empty, end with a complete
	// line and continue the segment before it.
	prev := Head{Hash: ZeroHash}
	for i := 0; i < len(segs)-1; i++ {
		first, tail, err := segmentEnds(segs[i].path)
		if err != nil {
			return fmt.Errorf("%s: %w; refusing to open", filepath.Base(segs[i].path), err)
		}
		if first.Event.Seq != prev.Count+1 || first.Event.Prev != prev.Hash {
			return fmt.Errorf("%s: first event is seq %d, expected %d linked to the previous segment; refusing to open",
				filepath.Base(segs[i].path), first.Event.Seq, prev.Count+1)
		}
		segs[i].first = first.Event.Seq
		prev = Head{Count: tail.Event.Seq, Hash: tail.Event.Hash}
	}
	if len(segs) == 0 {
		if err := s.newSegment(1, 1); err != nil {
			return err
		}
	} else {
		lastSeg := &s.segs[len(s.segs)-1]
		head, size, err := s.recoverTail(lastSeg.path, prev)
		if err != nil {
			return fmt.Errorf("%s: %w; refusing to open", filepath.Base(lastSeg.path), err)
		}
		lastSeg.first = prev.Count + 1
		prev = head
		f, err := os.OpenFile(lastSeg.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		s.active, s.activeSize, s.prepared = f, size, size
	}
	s.head, s.written = prev, prev
	return s.openCheckpoints()
}

func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range ents {
		m := segmentName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad segment name %s", e.Name())
		}
		segs = append(segs, segment{num: n, path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].num < segs[j].num })
	return segs, nil
}

// segmentEnds reads the first and the last line of a closed segment.
func segmentEnds(path string) (first, last Entry, err error) {
	f, err := os.Open(path)
	if err != nil {
		return first, last, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose on close
	st, err := f.Stat()
	if err != nil {
		return first, last, err
	}
	size := st.Size()
	if size == 0 {
		return first, last, errors.New("segment is empty but is not the last one")
	}
	r := bufio.NewReaderSize(f, 64<<10)
	line, err := readLine(r, false)
	if err != nil {
		return first, last, fmt.Errorf("first line: %w", err)
	}
	if first, err = ParseLine(line); err != nil {
		return first, last, fmt.Errorf("first line: %w", err)
	}
	n := min(size, int64(MaxLineBytes+1))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil {
		return first, last, err
	}
	if buf[len(buf)-1] != '\n' {
		return first, last, errors.New("ends in a partial line but is not the last segment")
	}
	buf = buf[:len(buf)-1]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[i+1:]
	} else if n < size {
		return first, last, errors.New("last line is too long")
	}
	if last, err = ParseLine(buf); err != nil {
		return first, last, fmt.Errorf("last line: %w", err)
	}
	return first, last, nil
}

// readLine returns the next complete line, without its newline. With
// zeroEnds, as in a segment, a zero byte ends the lines: io.EOF where a
// line would start (the preallocated tail), io.ErrUnexpectedEOF inside a
// line (a write that a crash cut short, as at the end of the file).
func readLine(r *bufio.Reader, zeroEnds bool) ([]byte, error) {
	var acc []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if zeroEnds {
			if i := bytes.IndexByte(chunk, 0); i >= 0 {
				if len(acc)+i == 0 {
					return nil, io.EOF
				}
				return nil, io.ErrUnexpectedEOF
			}
		}
		if len(acc)+len(chunk) > MaxLineBytes+1 {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		switch {
		case err == nil:
			if acc == nil {
				return chunk[:len(chunk)-1], nil
			}
			acc = append(acc, chunk...)
			return acc[:len(acc)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			acc = append(acc, chunk...)
		case errors.Is(err, io.EOF) && len(acc)+len(chunk) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// recoverTail verifies the last segment's chain from prev, cuts the file
// after its last complete line, and returns the head and the segment's
// (new) size.
func (s *FileStore) recoverTail(path string, prev Head) (Head, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return prev, 0, err
	}
	defer func() { _ = f.Close() }() // a truncation below is synced before it returns; nothing else is written
	r := bufio.NewReaderSize(f, 256<<10)
	var good int64
	head := prev
	for {
		line, err := readLine(r, true)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// What follows the last complete line is the preallocated zero
			// tail, or bytes of groups whose fdatasync never returned: a
			// torn line, or lines after a page the crash left zero. No
			// caller was told any of them is durable, since each answer
			// waits for an fdatasync that covers every byte before it.
			if err := s.cutTail(f, path, good, head); err != nil {
				return prev, 0, err
			}
			break
		}
		if err != nil {
			return prev, 0, fmt.Errorf("after seq %d: %w", head.Count, err)
		}
		e, err := ParseLine(line)
		if err != nil {
			return prev, 0, fmt.Errorf("seq %d: %w", head.Count+1, err)
		}
		if e.Event.Seq != head.Count+1 {
			return prev, 0, fmt.Errorf("seq %d: found seq %d", head.Count+1, e.Event.Seq)
		}
		if e.Event.Prev != head.Hash {
			return prev, 0, fmt.Errorf("seq %d: prev does not match the hash of seq %d", e.Event.Seq, head.Count)
		}
		head = Head{Count: e.Event.Seq, Hash: e.Event.Hash}
		good += int64(len(line)) + 1
	}
	return head, good, nil
}

// cutTail truncates the last segment to its good bytes. A tail of zeros is
// the preallocation and goes silently; when a crash left more (a torn line,
// or lines after a page that stayed zero), those bytes are first kept
// beside the segment, in <segment>.cut-<offset>, for an operator to look
// at, and a warning says so: they were never acknowledged, but cutting
// must not be a way to erase lines without a trace.
func (s *FileStore) cutTail(f *os.File, path string, good int64, head Head) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == good {
		return nil
	}
	last, err := lastNonZero(io.NewSectionReader(f, good, st.Size()-good))
	if err != nil {
		return fmt.Errorf("read the tail after seq %d: %w", head.Count, err)
	}
	if last > 0 {
		kept, err := keepBytes(fmt.Sprintf("%s.cut-%d", path, good), io.NewSectionReader(f, good, last))
		if err != nil {
			return fmt.Errorf("keep the torn tail after seq %d: %w", head.Count, err)
		}
		s.log.Warn("audit log: cut a torn tail left by a crash; its bytes were never acknowledged and are kept aside",
			"segment", filepath.Base(path), "bytes", last, "kept", filepath.Base(kept), "head_seq", head.Count)
	}
	if err := f.Truncate(good); err != nil {
		return fmt.Errorf("truncate the tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("truncate the tail: %w", err)
	}
	return nil
}

// keepBytes writes r durably to a new file named path, or path.1, path.2, …
// when that exists (a crash at the same place before, or during the cut),
// and returns its name: what was kept before is never overwritten.
func keepBytes(path string, r io.Reader) (string, error) {
	name := path
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	for i := 1; errors.Is(err, os.ErrExist) && i < 1000; i++ {
		name = fmt.Sprintf("%s.%d", path, i)
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, syncDir(filepath.Dir(path))
}

// lastNonZero is the length of r up to and including its last byte that
// is not zero: 0 when r is all zeros.
func lastNonZero(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var off, last int64
	for {
		k, err := r.Read(buf)
		for i := k - 1; i >= 0; i-- {
			if buf[i] != 0 {
				last = off + int64(i) + 1
				break
			}
		}
		off += int64(k)
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return last, err
		}
	}
}

func (s *FileStore) openCheckpoints() error {
	path := filepath.Join(s.dir, checkpointsFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.cpFile = f
	cps, good, torn, err := readCheckpoints(f)
	if err != nil {
		return fmt.Errorf("%s: %w; refusing to open", checkpointsFile, err)
	}
	if torn {
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		s.log.Warn("audit log: truncated a torn final checkpoint line left by a crash")
	}
	s.cps = cps
	return syncDir(s.dir)
}

func readCheckpoints(r io.Reader) (cps []SignedCheckpoint, good int64, torn bool, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br, false)
		if errors.Is(err, io.EOF) {
			return cps, good, false, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return cps, good, true, nil
		}
		if err != nil {
			return nil, 0, false, err
		}
		cp, err := parseCheckpoint(line)
		if err != nil {
			return nil, 0, false, fmt.Errorf("checkpoint %d: %w", len(cps)+1, err)
		}
		if n := len(cps); n > 0 && cp.Count <= cps[n-1].Count {
			return nil, 0, false, fmt.Errorf("checkpoint %d: count %d does not follow %d", n+1, cp.Count, cps[n-1].Count)
		}
		cps = append(cps, cp)
		good += int64(len(line)) + 1
	}
}

func (s *FileStore) newSegment(num int, first int64) error {
	path := filepath.Join(s.dir, fmt.Sprintf("%06d.log", num))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		_ = f.Close()
		return err
	}
	s.mu.Lock()
	s.segs = append(s.segs, segment{num: num, path: path, first: first})
	old := s.active
	s.active, s.activeSize, s.prepared = f, 0, 0
	s.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }() // a directory opened only to sync it
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Head implements Store.
func (s *FileStore) Head() Head {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head
}

// Write appends the entries with one write and one fsync.
func (s *FileStore) Write(_ context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	size := 0
	for _, e := range entries {
		size += len(e.Line) + 1
	}
	lines := make([]byte, 0, size)
	for _, e := range entries {
		lines = append(lines, e.Line...)
		lines = append(lines, '\n')
	}
	first, last := entries[0].Event, entries[len(entries)-1].Event
	after := Head{Count: first.Seq - 1, Hash: first.Prev}
	if err := s.WriteNext(after, Head{Count: last.Seq, Hash: last.Hash}, lines); err != nil {
		return err
	}
	h, err := s.Sync()
	if err != nil {
		return err
	}
	s.Publish(h)
	return nil
}

// WriteNext appends lines, entries' lines each followed by a newline,
// after the entry after, with one write, without fsync; they are neither
// durable nor shown to readers until a Sync and Publish.
func (s *FileStore) WriteNext(after, head Head, lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	if s.opts.ReadOnly {
		return errors.New("audit log opened read-only")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.active == nil {
		return errors.New("audit log is closed")
	}
	s.mu.RLock()
	written := s.written
	s.mu.RUnlock()
	if after != written || head.Count <= after.Count || lines[len(lines)-1] != '\n' {
		return fmt.Errorf("write seq %d does not continue head %d", after.Count+1, written.Count)
	}
	if s.activeSize >= s.opts.SegmentBytes {
		if err := s.rotate(written); err != nil {
			return fmt.Errorf("start segment: %w", err)
		}
	}
	size := len(lines)
	if err := s.prepare(s.activeSize + int64(size)); err != nil {
		return fmt.Errorf("preallocate: %w", err)
	}
	n, err := s.active.WriteAt(lines, s.activeSize)
	s.activeSize += int64(n)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	s.mu.Lock()
	s.written = head
	s.mu.Unlock()
	return nil
}

// preallocBytes is how far ahead of its lines the active segment is
// preallocated at a time (at most a segment's size).
const preallocBytes = 1 << 20

// zeros is what a segment is preallocated with.
var zeros [64 << 10]byte

// prepare makes sure the active segment is preallocated up to at least end:
// zeros written over a whole step and fsynced (size and blocks), before
// any line is written there. fallocate would not do: its extents stay
// unwritten until written, and writing them changes metadata again.
func (s *FileStore) prepare(end int64) error {
	if end <= s.prepared {
		return nil
	}
	step := min(int64(preallocBytes), s.opts.SegmentBytes)
	to := (max(end, s.prepared+step) + 4095) &^ 4095
	for off := s.prepared; off < to; {
		n := min(int64(len(zeros)), to-off)
		if _, err := s.active.WriteAt(zeros[:n], off); err != nil {
			return err
		}
		off += n
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	s.prepared = to
	return nil
}

// PrepareNext preallocates the next step of the active segment once less
// than half a step is left, so that WriteNext seldom has to, and its fsync
// runs while the writer waits for an fsync slot or for appends rather than
// between taking a group and writing it.
func (s *FileStore) PrepareNext() {
	if s.opts.ReadOnly {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	step := min(int64(preallocBytes), s.opts.SegmentBytes)
	if s.active == nil || s.activeSize >= s.opts.SegmentBytes || s.prepared-s.activeSize >= step/2 {
		return
	}
	_ = s.prepare(s.activeSize + step) // WriteNext prepares again and reports the error
}

// cutActive truncates the active segment to its lines and fsyncs it, so
// that a closed segment holds nothing else. The caller holds syncMu.
func (s *FileStore) cutActive() error {
	if s.prepared > s.activeSize {
		if err := s.active.Truncate(s.activeSize); err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
		s.prepared = s.activeSize
	}
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// rotate makes the active segment durable and cuts it to its lines, once
// no Sync is under way on it, and starts the next one after written: a
// Sync on the new segment then covers every entry written before it.
func (s *FileStore) rotate(written Head) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.cutActive(); err != nil {
		return err
	}
	last := s.segs[len(s.segs)-1].num
	return s.newSegment(last+1, written.Count+1)
}

// Sync makes every entry written before it was called durable with one
// fdatasync, and returns the last of them. The lines lie in preallocated,
// durable blocks, so no metadata is needed to read them back; should one
// have been (a file system that lost track), fdatasync writes it too.
// Several Syncs may be under way at once: their cache flushes are shared.
func (s *FileStore) Sync() (Head, error) {
	s.syncMu.RLock()
	defer s.syncMu.RUnlock()
	s.mu.RLock()
	f, written := s.active, s.written
	s.mu.RUnlock()
	if f == nil {
		return Head{}, errors.New("audit log is closed")
	}
	if err := fdatasync(f); err != nil {
		return Head{}, fmt.Errorf("fdatasync: %w", err)
	}
	return written, nil
}

// Publish shows readers the entries up to h, which a Sync made durable.
func (s *FileStore) Publish(h Head) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h.Count > s.head.Count {
		s.head = h
	}
}

// AddCheckpoint appends a checkpoint line and fsyncs it.
func (s *FileStore) AddCheckpoint(_ context.Context, cp SignedCheckpoint) error {
	if s.opts.ReadOnly {
		return errors.New("audit log opened read-only")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.cpFile == nil {
		return errors.New("audit log is closed")
	}
	s.mu.RLock()
	n := len(s.cps)
	var lastCount int64
	if n > 0 {
		lastCount = s.cps[n-1].Count
	}
	s.mu.RUnlock()
	if cp.Count <= lastCount || cp.Count > s.Head().Count {
		return fmt.Errorf("checkpoint at %d out of order (last %d, head %d)", cp.Count, lastCount, s.Head().Count)
	}
	line, err := canonicalJSON(cp)
	if err != nil {
		return err
	}
	if _, err := s.cpFile.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := s.cpFile.Sync(); err != nil {
		return fmt.Errorf("fsync checkpoint: %w", err)
	}
	s.mu.Lock()
	s.cps = append(s.cps, cp)
	s.mu.Unlock()
	return nil
}

// Checkpoints implements Store.
func (s *FileStore) Checkpoints(context.Context) ([]SignedCheckpoint, error) {
	if s.opts.ReadOnly {
		f, err := os.Open(filepath.Join(s.dir, checkpointsFile))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }() // read only: nothing to lose on close
		cps, _, _, err := readCheckpoints(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", checkpointsFile, err)
		}
		return cps, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]SignedCheckpoint(nil), s.cps...), nil
}

// view is a consistent snapshot for a reader.
func (s *FileStore) view() ([]segment, Head) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]segment(nil), s.segs...), s.head
}

// Scan implements Store. Read-only, it passes every complete line of every
// segment in order, however broken, for the verifier to judge.
func (s *FileStore) Scan(ctx context.Context, from int64, fn func([]byte) error) error {
	from = max(from, 1)
	segs, head := s.view()
	pos := int64(0)
	start := 0
	if !s.opts.ReadOnly {
		if from > head.Count {
			return nil
		}
		start = sort.Search(len(segs), func(i int) bool { return segs[i].first > from }) - 1
		start = max(start, 0)
		pos = segs[start].first - 1
	}
	for _, sg := range segs[start:] {
		stop, err := scanSegment(ctx, sg.path, func(line []byte) (bool, error) {
			pos++
			if !s.opts.ReadOnly && pos > head.Count {
				return true, nil
			}
			if pos < from {
				return false, nil
			}
			return false, fn(line)
		})
		if err != nil {
			return err
		}
		if stop {
			return nil
		}
	}
	return nil
}

// scanSegment calls fn for each complete line; a partial final line (a
// write in progress, or torn) and the zero tail of the active segment are
// not passed. fn returns true to stop.
func scanSegment(ctx context.Context, path string, fn func([]byte) (bool, error)) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose on close
	r := bufio.NewReaderSize(f, 256<<10)
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		line, err := readLine(r, true)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		stop, err := fn(line)
		if err != nil || stop {
			return stop, err
		}
	}
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, seq int64) (Entry, error) {
	if seq < 1 {
		return Entry{}, ErrNotFound
	}
	var out Entry
	found := false
	errStop := errors.New("stop")
	err := s.Scan(ctx, seq, func(line []byte) error {
		e, err := decodeLine(line)
		if err != nil {
			return err
		}
		out, found = Entry{Event: e, Line: bytes.Clone(line)}, true
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return Entry{}, err
	}
	if !found || out.Event.Seq != seq {
		return Entry{}, ErrNotFound
	}
	return out, nil
}

// Search implements Store: newest segment first, keeping only the newest
// Limit+1 matches in memory.
func (s *FileStore) Search(ctx context.Context, q Query) (Page, error) {
	q = q.normalize()
	segs, head := s.view()
	want := q.Limit + 1
	var out []Event
	for i := len(segs) - 1; i >= 0 && len(out) < want; i-- {
		if !s.opts.ReadOnly && q.Before > 0 && segs[i].first >= q.Before {
			continue
		}
		ring := newRing(want - len(out))
		_, err := scanSegment(ctx, segs[i].path, func(line []byte) (bool, error) {
			if !prefilter(line, q) {
				return false, nil
			}
			e, err := decodeLine(line)
			if err != nil {
				// Unreadable lines are the verifier's business; search shows
				// what can be read.
				return false, nil
			}
			if !s.opts.ReadOnly && e.Seq > head.Count {
				return true, nil
			}
			if q.Before > 0 && e.Seq >= q.Before {
				return true, nil
			}
			if q.Match(&e) {
				ring.add(e)
			}
			return false, nil
		})
		if err != nil {
			return Page{}, err
		}
		out = append(out, ring.newestFirst()...)
	}
	return pageOf(out, q.Limit), nil
}

func pageOf(events []Event, limit int) Page {
	p := Page{Events: events}
	if p.Events == nil {
		p.Events = []Event{}
	}
	if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		p.Next = p.Events[limit-1].Seq
	}
	return p
}

// prefilter rules a line out cheaply when an exact-match filter's value does
// not occur in it. JCS writes these values verbatim unless they hold a
// quote, a backslash or a control character.
func prefilter(line []byte, q Query) bool {
	for _, v := range []string{q.Member, q.RecordID, q.Decision, q.Reason} {
		if v == "" || needsEscape(v) {
			continue
		}
		if !bytes.Contains(line, []byte(`"`+v+`"`)) {
			return false
		}
	}
	return true
}

func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// ring keeps the last n events added.
type ring struct {
	buf  []Event
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]Event, n)} }

func (r *ring) add(e Event) {
	r.buf[r.next] = e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring) newestFirst() []Event {
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]Event, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// Close implements Store.
func (s *FileStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var errs []error
	s.mu.Lock()
	if s.active != nil {
		if !s.opts.ReadOnly {
			// A cleanly closed log holds only lines, as before
			// preallocation; the next open preallocates again.
			errs = append(errs, s.cutActive())
		}
		errs = append(errs, s.active.Close())
		s.active = nil
	}
	if s.cpFile != nil {
		errs = append(errs, s.cpFile.Close())
		s.cpFile = nil
	}
	s.mu.Unlock()
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
		s.lock = nil
	}
	return errors.Join(errs...)
}
