package main

// A sniffer on the client's TCP connections: it parses the HTTP/2 frames each way (headers only,
// plus the payloads of the small control frames) so the smoke test can assert what happened on
// the wire — keepalive PINGs and their ACKs, GOAWAYs and their error codes, WINDOW_UPDATEs during a
// large request, how many streams were open at once on one connection — instead of trusting that
// grpc-go did what it was configured to do.

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
)

const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8

	flagEndStream = 0x1
	flagAck       = 0x1
)

// wireStats counts the frames of every connection one ClientConn dialled.
type wireStats struct {
	mu                     sync.Mutex
	dials                  int
	clientPings            int // PINGs the client sent (not ACKs)
	clientKeepalivePings   int // of those, grpc-go's keepalive PINGs (all-zero payload; its BDP PINGs carry 2,4,16,16,9,14,7,7)
	serverPingAcks         int // the server's ACKs of them
	serverPings            int // PINGs the server sent (keepalive, or the graceful-shutdown PING)
	clientPingAcks         int
	serverGoAways          []uint32 // error codes, in order
	serverStreamWindowUpds int      // WINDOW_UPDATEs on a stream (not the connection)
	serverConnWindowUpds   int
	serverRSTStreams       int
	clientDataBytes        int64
	serverMaxConcurrent    uint32 // SETTINGS_MAX_CONCURRENT_STREAMS the server announced (0: none seen)
	serverInitialWindow    uint32
	open                   map[uint64]bool // dial number << 32 | stream id
	peakOpen               int
}

type wireSnapshot struct {
	Dials, ClientPings, ClientKeepalivePings, ServerPingAcks, ServerPings, ClientPingAcks int
	ServerGoAways                                                 []uint32
	ServerStreamWindowUpdates, ServerConnWindowUpdates            int
	ServerRSTStreams                                              int
	ClientDataBytes                                               int64
	ServerMaxConcurrent, ServerInitialWindow                      uint32
	PeakOpen, Open                                                int
}

func (w *wireStats) snapshot() wireSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return wireSnapshot{
		Dials: w.dials, ClientPings: w.clientPings, ClientKeepalivePings: w.clientKeepalivePings, ServerPingAcks: w.serverPingAcks, ServerPings: w.serverPings,
		ClientPingAcks: w.clientPingAcks, ServerGoAways: append([]uint32(nil), w.serverGoAways...),
		ServerStreamWindowUpdates: w.serverStreamWindowUpds, ServerConnWindowUpdates: w.serverConnWindowUpds,
		ServerRSTStreams: w.serverRSTStreams, ClientDataBytes: w.clientDataBytes,
		ServerMaxConcurrent: w.serverMaxConcurrent, ServerInitialWindow: w.serverInitialWindow,
		PeakOpen: w.peakOpen, Open: len(w.open),
	}
}

// resetPeak starts a new measurement of the most streams open at once.
func (w *wireStats) resetPeak() {
	w.mu.Lock()
	w.peakOpen = len(w.open)
	w.mu.Unlock()
}

// dialer returns a grpc.WithContextDialer function whose connections feed w.
func (w *wireStats) dialer() func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.dials++
		if w.open == nil {
			w.open = map[uint64]bool{}
		}
		id := uint64(w.dials) << 32
		w.mu.Unlock()
		s := &sniffConn{Conn: c}
		s.out = h2Parser{preface: 24, onFrame: func(typ, flags byte, stream uint32, length int, payload []byte) {
			w.clientFrame(id, typ, flags, stream, length, payload)
		}}
		s.in = h2Parser{onFrame: func(typ, flags byte, stream uint32, length int, payload []byte) {
			w.serverFrame(id, typ, flags, stream, length, payload)
		}}
		return s, nil
	}
}

func (w *wireStats) clientFrame(conn uint64, typ, flags byte, stream uint32, length int, payload []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch typ {
	case frameHeaders:
		w.open[conn|uint64(stream)] = true
		if len(w.open) > w.peakOpen {
			w.peakOpen = len(w.open)
		}
	case frameData:
		w.clientDataBytes += int64(length)
	case frameRSTStream:
		delete(w.open, conn|uint64(stream))
	case framePing:
		if flags&flagAck != 0 {
			w.clientPingAcks++
		} else {
			w.clientPings++
			if len(payload) == 8 && binary.BigEndian.Uint64(payload) == 0 {
				w.clientKeepalivePings++
			}
		}
	}
}

func (w *wireStats) serverFrame(conn uint64, typ, flags byte, stream uint32, length int, payload []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch typ {
	case frameHeaders, frameData:
		if flags&flagEndStream != 0 {
			delete(w.open, conn|uint64(stream))
		}
	case frameRSTStream:
		w.serverRSTStreams++
		delete(w.open, conn|uint64(stream))
	case frameSettings:
		if flags&flagAck == 0 {
			for i := 0; i+6 <= len(payload); i += 6 {
				v := binary.BigEndian.Uint32(payload[i+2:])
				switch binary.BigEndian.Uint16(payload[i:]) {
				case 0x3:
					w.serverMaxConcurrent = v
				case 0x4:
					w.serverInitialWindow = v
				}
			}
		}
	case framePing:
		if flags&flagAck != 0 {
			w.serverPingAcks++
		} else {
			w.serverPings++
		}
	case frameGoAway:
		code := uint32(0xffffffff)
		if len(payload) >= 8 {
			code = binary.BigEndian.Uint32(payload[4:8])
		}
		w.serverGoAways = append(w.serverGoAways, code)
	case frameWindowUpdate:
		if stream == 0 {
			w.serverConnWindowUpds++
		} else {
			w.serverStreamWindowUpds++
		}
	}
}

type sniffConn struct {
	net.Conn
	rmu, wmu sync.Mutex
	in, out  h2Parser
}

func (s *sniffConn) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	if n > 0 {
		s.rmu.Lock()
		s.in.feed(b[:n])
		s.rmu.Unlock()
	}
	return n, err
}

func (s *sniffConn) Write(b []byte) (int, error) {
	// Parsed before it is sent: the server's answer to a HEADERS frame can otherwise be read (and
	// close the stream here) before the write returns.
	s.wmu.Lock()
	s.out.feed(b)
	s.wmu.Unlock()
	return s.Conn.Write(b)
}

// h2Parser cuts a byte stream into HTTP/2 frames. Control frames (SETTINGS, PING, GOAWAY,
// RST_STREAM, WINDOW_UPDATE) are buffered whole and handed over with their payload; the payload of
// any other frame is skipped (its length is reported).
type h2Parser struct {
	preface int // client preface bytes still to skip
	buf     []byte
	skip    int
	onFrame func(typ, flags byte, stream uint32, length int, payload []byte)
}

func (p *h2Parser) feed(b []byte) {
	for len(b) > 0 {
		if p.preface > 0 {
			n := min(p.preface, len(b))
			p.preface -= n
			b = b[n:]
			continue
		}
		if p.skip > 0 {
			n := min(p.skip, len(b))
			p.skip -= n
			b = b[n:]
			continue
		}
		p.buf = append(p.buf, b...)
		b = nil
		for len(p.buf) >= 9 {
			length := int(p.buf[0])<<16 | int(p.buf[1])<<8 | int(p.buf[2])
			typ, flags := p.buf[3], p.buf[4]
			stream := binary.BigEndian.Uint32(p.buf[5:9]) & 0x7fffffff
			switch typ {
			case frameRSTStream, frameSettings, framePing, frameGoAway, frameWindowUpdate:
				if len(p.buf) < 9+length {
					return
				}
				p.onFrame(typ, flags, stream, length, p.buf[9:9+length])
				p.buf = p.buf[9+length:]
			default:
				p.onFrame(typ, flags, stream, length, nil)
				if rest := len(p.buf) - 9; rest >= length {
					p.buf = p.buf[9+length:]
				} else {
					p.skip = length - rest
					p.buf = p.buf[:0]
				}
			}
		}
		if len(p.buf) == 0 {
			p.buf = nil
		}
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
