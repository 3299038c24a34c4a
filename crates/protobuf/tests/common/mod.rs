//! Helpers shared by the integration tests: fixtures and hand-built envelopes.

#![allow(dead_code)]

use serde_json::Value;

/// A kubectl-captured body from `tests/fixtures/<name>.pb`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.pb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An object's own encoding from `tests/fixtures/raw/<name>.bin` (see `gen.sh` there).
pub fn raw(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/raw/{name}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends a length-delimited field.
pub fn field(number: u64, data: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Appends a varint field.
pub fn varint_field(number: u64, value: u64, out: &mut Vec<u8>) {
    varint(number << 3, out);
    varint(value, out);
}

/// A `runtime.Unknown` envelope (without the magic) around `raw`.
pub fn unknown(api_version: &str, kind: &str, raw: &[u8], content_encoding: &str) -> Vec<u8> {
    let mut type_meta = Vec::new();
    field(1, api_version.as_bytes(), &mut type_meta);
    field(2, kind.as_bytes(), &mut type_meta);
    let mut envelope = Vec::new();
    field(1, &type_meta, &mut envelope);
    field(2, raw, &mut envelope);
    field(3, content_encoding.as_bytes(), &mut envelope);
    field(4, b"", &mut envelope);
    envelope
}

/// A complete body (magic + envelope) around `raw`.
pub fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown(api_version, kind, raw, ""));
    body
}

/// Decodes with the built-in codec, failing the test on an error.
pub fn decode(body: &[u8]) -> Value {
    rkube_protobuf::Codec::builtin()
        .decode(body)
        .unwrap_or_else(|e| panic!("decode failed: {e}"))
}

/// The error message of a body that must not decode.
pub fn decode_err(body: &[u8]) -> String {
    match rkube_protobuf::Codec::builtin().decode(body) {
        Ok(value) => panic!("decoded unexpectedly: {value}"),
        Err(e) => e.to_string(),
    }
}
