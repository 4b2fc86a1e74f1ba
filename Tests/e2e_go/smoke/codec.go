package main

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/proto"
)

// Debian bookworm's grpc-go (1.33) marshals with github.com/golang/protobuf 1.3
// (golang-github-golang-protobuf-1-3-dev), which cannot handle the APIv2 messages that Debian's
// protoc-gen-go generates. This codec, registered under grpc-go's default name "proto", marshals
// them with google.golang.org/protobuf instead; the bytes on the wire are the same protobuf.
type protoV2Codec struct{}

func (protoV2Codec) Name() string { return "proto" }

func (protoV2Codec) Marshal(v interface{}) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("codec: %T is not a protobuf message", v)
	}
	return proto.Marshal(m)
}

func (protoV2Codec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("codec: %T is not a protobuf message", v)
	}
	return proto.Unmarshal(data, m)
}

func init() { encoding.RegisterCodec(protoV2Codec{}) }
