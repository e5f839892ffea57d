// Package pb holds the protobuf messages of the connect protocol, generated from
// connect.proto (see ../gen.go for the protoc command). Do not edit connect.pb.go by
// hand.
package pb
