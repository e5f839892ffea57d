package control

// The generated protobuf code in pb/ is checked in, so building needs no protoc. After
// changing pb/connect.proto, regenerate from this directory with protoc 3.21 or later and
// protoc-gen-go v1.36.12 on PATH:
//
//	protoc --proto_path=pb --go_out=pb --go_opt=paths=source_relative pb/connect.proto
//
//go:generate protoc --proto_path=pb --go_out=pb --go_opt=paths=source_relative pb/connect.proto
