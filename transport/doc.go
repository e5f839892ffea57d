// Package transport accepts client connections over WebSocket and QUIC and relays the
// connect protocol's transfer frames between them.
//
// A Server authenticates each connection (an auth frame echoed back, or headers on the
// WebSocket upgrade), keeps the presence of every client (all connections of one client
// id and instance id), and for each inbound frame reads only its path: frames between
// clients are queued unchanged on one live connection of the destination, frames for
// the control id go to the client's control session. Every connection has a bounded
// send queue and a writer of its own, so a slow receiver never holds up a reader: what
// does not fit is dropped and counted, and clients resend.
//
// Mount the Server as an http.Handler for WebSocket and call ListenQUIC for QUIC; the
// Server is also the engine's view of who is connected (engine.Presence).
package transport
