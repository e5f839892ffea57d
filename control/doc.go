// Package control speaks the platform's side of the connect protocol: the protobuf
// messages (subpackage pb), the codecs the transports share, and the control path, the
// endpoint for frames clients address to the control id.
//
// # Codecs
//
// ParsePath reads only the TransferPath of a TransferFrame, without allocating, so that
// the transports can route a frame between clients without decoding it. QUICReader and
// QUICWriter frame messages on a QUIC stream (a 4-byte header: big-endian uint16 length,
// then a uint16 split index that readers ignore). ParseAuthFrame checks the first
// message of a connection. AppendAckFrame and AppendPackFrame build the TransferFrames
// the platform sends from the control id, with all three path ids written as 16
// explicit bytes.
//
// # The control path
//
// A Server holds the handlers: Provide replaces a client's provide keys,
// CreateContract asks the engine for a contract and signs it with the destination's
// provide secret, CloseContract and PeerAudit are passed to the engine, and every other
// frame type (pings, types of newer clients) is accepted and ignored so that it never
// breaks a sequence. The contract rules themselves live in the engine, behind the
// ContractEngine interface.
//
// Clients reach the handlers two ways. Out of band, the API front passes the pack of
// POST /connect/control to Server.HandlePack and returns the reply pack. In band, the
// transport opens a Session per client presence and passes it every TransferFrame
// addressed to the control id. The session is a sequence endpoint: it delivers each of
// the client's sequences in order, once, acking cumulatively, and sends the replies
// (CreateContractResult) on a sequence of its own that it resends every two seconds
// until acked, for at most a minute.
//
// # Contract signatures
//
// Deployed clients verify stored_contract_hmac in a legacy form, the stored contract
// bytes followed by HMAC-SHA256(secret, empty message), and reject the standard
// HMAC-SHA256(secret, stored bytes). HMACLegacy is therefore the default and
// HMACStandard a configuration choice for newer clients.
//
// # Regenerating pb
//
// The generated code is checked in; see gen.go for the protoc command, run by
// go generate ./control/...
package control
