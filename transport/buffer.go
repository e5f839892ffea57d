package transport

import (
	"io"
	"sync"
)

// Relayed frames travel from a reader to another connection's writer in pooled buffers,
// so the relay path does not allocate per frame. Buffers come in a few size classes; the
// smallest fits the common small frame without wasting much of the send queue, and the
// largest holds a batch of maxBatchBytes or one 65535-byte message with its header.
var bufferClasses = [...]int{512, 2 << 10, 8 << 10, 65 << 10}

var bufferPools [len(bufferClasses)]sync.Pool

// buffer is a pooled byte slice. Its owner is whoever holds the pointer: the reader
// until it hands the buffer to a send queue, then the writer, which releases it.
type buffer struct {
	b     []byte
	class int
}

// getBuffer returns a buffer whose length is at least n (at most 65 KiB).
func getBuffer(n int) *buffer {
	class := 0
	for class < len(bufferClasses)-1 && bufferClasses[class] < n {
		class++
	}
	if v := bufferPools[class].Get(); v != nil {
		return v.(*buffer)
	}
	return &buffer{b: make([]byte, bufferClasses[class]), class: class}
}

// release returns the buffer to its pool; the caller must not use it afterwards.
func (b *buffer) release() {
	if b != nil {
		bufferPools[b.class].Put(b)
	}
}

// readAll reads r to its end into a pooled buffer, growing through the size classes.
// It returns the buffer and the message length, or errMessageTooLarge past 65 KiB;
// callers enforce their smaller read limit before.
func readAll(r io.Reader) (*buffer, int, error) {
	buf := getBuffer(0)
	n := 0
	for {
		if n == len(buf.b) {
			if buf.class == len(bufferClasses)-1 {
				buf.release()
				return nil, 0, errMessageTooLarge
			}
			bigger := getBuffer(bufferClasses[buf.class+1])
			copy(bigger.b, buf.b[:n])
			buf.release()
			buf = bigger
		}
		m, err := r.Read(buf.b[n:])
		n += m
		if err == io.EOF {
			return buf, n, nil
		}
		if err != nil {
			buf.release()
			return nil, 0, err
		}
	}
}
