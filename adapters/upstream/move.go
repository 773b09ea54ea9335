package upstream

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// openDB is the outbox's database: the store's file when shared is set,
// else its own file at path.
func openDB(path string, shared *bbolt.DB) (*bbolt.DB, error) {
	if shared != nil {
		return shared, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 10 * time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	return db, nil
}

// Moving an outbox file into the store's file. An outbox that kept its own
// file (every version before the queues moved into the embedded store's
// file) may hold entries not delivered yet, parked ones and peers' receipts:
// at Open they are appended, in their order, to the same buckets in the
// store's file, and the old file is renamed to <path>.moved, kept for the
// operator. A crash between the copy's commit and the rename must not copy
// twice: the old file is first given a random move ID (committed in it),
// the copy's transaction records that ID in the store's file, and a file
// whose ID is recorded there is only renamed.
var (
	bMoved     = []byte("outbox_moved") // in the store's file: move ID → time
	bMoveState = []byte("outbox_move")  // in the old file
	keyMoveID  = []byte("id")
)

// movedSuffix is what a moved outbox file is renamed with.
const movedSuffix = ".moved"

// moveFile moves the outbox file at path, if there is one, into db.
func moveFile(db *bbolt.DB, path string, log *slog.Logger) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	old, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 10 * time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("moving the outbox file into the store's file: %w", err)
	}
	n, err := moveEntries(db, old)
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("moving the outbox file into the store's file: %w", err)
	}
	if err := os.Rename(path, path+movedSuffix); err != nil {
		return fmt.Errorf("moving the outbox file into the store's file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename, durable; a lost one only means the file is looked at again
		_ = d.Close()
	}
	log.Info("outbox file moved into the store's file", "path", path, "renamed_to", path+movedSuffix, "entries", n)
	return nil
}

// moveEntries copies every queue, dead-letter and sent bucket of old into db
// once (see bMoved), and reports how many entries it copied.
func moveEntries(db, old *bbolt.DB) (int, error) {
	var id []byte
	err := old.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bMoveState)
		if err != nil {
			return err
		}
		if id = b.Get(keyMoveID); id != nil {
			id = append([]byte(nil), id...)
			return nil
		}
		id = []byte(rand.Text())
		return b.Put(keyMoveID, id)
	})
	if err != nil {
		return 0, err
	}
	n := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		moved, err := tx.CreateBucketIfNotExists(bMoved)
		if err != nil {
			return err
		}
		if moved.Get(id) != nil {
			return nil // copied before a crash; only the rename was left
		}
		err = old.View(func(otx *bbolt.Tx) error {
			return otx.ForEach(func(name []byte, ob *bbolt.Bucket) error {
				if s := string(name); !strings.HasPrefix(s, "q/") && !strings.HasPrefix(s, "dead/") && !strings.HasPrefix(s, "sent/") {
					return nil
				}
				b, err := tx.CreateBucketIfNotExists(name)
				if err != nil {
					return err
				}
				return ob.ForEach(func(_, v []byte) error {
					seq, err := b.NextSequence()
					if err != nil {
						return err
					}
					n++
					return b.Put(seqKey(seq), append([]byte(nil), v...))
				})
			})
		})
		if err != nil {
			return err
		}
		return moved.Put(id, []byte(time.Now().UTC().Format(time.RFC3339)))
	})
	return n, err
}
