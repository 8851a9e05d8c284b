//! Google Gemini (the Generative Language API): `generateContent`, or
//! `streamGenerateContent?alt=sse` for streams, with the model in the URL and the key in
//! `x-goog-api-key` (never in the query string, where it would reach access logs).

use super::azure::encode_segment;
use super::Endpoint;
use crate::secret::Secret;
use pingora::http::RequestHeader;

pub fn path(endpoint: &Endpoint, model: &str, stream: bool) -> String {
    let model = encode_segment(model.trim_start_matches("models/"));
    if stream {
        format!(
            "{}/v1beta/models/{model}:streamGenerateContent?alt=sse",
            endpoint.base_path
        )
    } else {
        format!(
            "{}/v1beta/models/{model}:generateContent",
            endpoint.base_path
        )
    }
}

pub fn authorize(req: &mut RequestHeader, key: &Secret) -> pingora::Result<()> {
    req.insert_header("x-goog-api-key", key.expose())
}
