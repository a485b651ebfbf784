//! A tonic codec for OTLP trace export that carries the request as raw protobuf bytes: the
//! server decodes them straight into the model ([`crate::ingest::otlp::decode_export`]) instead of
//! into prost messages, and the benchmark sends requests it encoded before its timed phase. The
//! response (`ExportTraceServiceResponse`) is encoded and decoded with prost.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

/// One direction's message: how it is written to and read from the wire.
pub trait Payload: Sized + Send + 'static {
    fn put(self, dst: &mut EncodeBuf<'_>) -> Result<(), Status>;
    fn take(src: &mut DecodeBuf<'_>) -> Result<Self, Status>;
}

/// Raw protobuf bytes, as they are.
impl Payload for Bytes {
    fn put(self, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(self);
        Ok(())
    }

    fn take(src: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        Ok(src.copy_to_bytes(src.remaining()))
    }
}

impl Payload for ExportTraceServiceResponse {
    fn put(self, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        self.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the export response: {e}")))
    }

    fn take(src: &mut DecodeBuf<'_>) -> Result<Self, Status> {
        ExportTraceServiceResponse::decode(src)
            .map_err(|e| Status::internal(format!("bad export response: {e}")))
    }
}

/// Sends `Out` and receives `In`.
pub struct PayloadCodec<Out, In>(PhantomData<fn() -> (Out, In)>);

/// What a client of the export method uses: raw requests out, responses in.
pub type ExportClientCodec = PayloadCodec<Bytes, ExportTraceServiceResponse>;
/// What the export service uses: raw requests in, responses out.
pub type ExportServerCodec = PayloadCodec<ExportTraceServiceResponse, Bytes>;

impl<Out, In> Default for PayloadCodec<Out, In> {
    fn default() -> Self {
        PayloadCodec(PhantomData)
    }
}

/// Writes one direction's messages.
pub struct PayloadEncoder<T>(PhantomData<fn() -> T>);
/// Reads one direction's messages.
pub struct PayloadDecoder<T>(PhantomData<fn() -> T>);

impl<Out: Payload, In: Payload> Codec for PayloadCodec<Out, In> {
    type Encode = Out;
    type Decode = In;
    type Encoder = PayloadEncoder<Out>;
    type Decoder = PayloadDecoder<In>;

    fn encoder(&mut self) -> Self::Encoder {
        PayloadEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        PayloadDecoder(PhantomData)
    }
}

impl<T: Payload> Encoder for PayloadEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.put(dst)
    }
}

impl<T: Payload> Decoder for PayloadDecoder<T> {
    type Item = T;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<T>, Status> {
        T::take(src).map(Some)
    }
}
