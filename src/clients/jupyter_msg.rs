//! The Jupyter messaging protocol (v5) as the notebook door speaks it over jupyter_server's kernel
//! websocket (`/api/kernels/<id>/channels`): what a kernel sends, decoded into the few messages
//! the door judges a run by (status, stream output, results, errors, execute replies), from JSON
//! text frames or from the binary `v1.kernel.websocket.jupyter.org` framing; and the
//! `execute_request` the door sends, in either form. Every frame is untrusted input from a server
//! kfcheck does not control: sizes and counts are capped, nothing panics (fuzzed:
//! `scripts/fuzz jupyter_messages`), and kernel text is kept as sent (the door redacts and escapes
//! it before it is shown).

use serde_json::{json, Map, Value};

/// The largest frame decoded; a kernel's answer to kfcheck's probes is a few KiB.
pub const MAX_FRAME_BYTES: usize = 16 << 20;
/// The most parts a binary frame may declare (channel, four JSON parts, buffers).
pub const MAX_PARTS: u64 = 64;
/// The most traceback lines kept from one error.
pub const MAX_TRACEBACK_LINES: usize = 200;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("kernel message of {0} bytes is over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("malformed binary kernel frame: {0}")]
    Framing(String),
    #[error("kernel message is not JSON: {0}")]
    NotJson(String),
    #[error("kernel message lacks {0}")]
    Missing(&'static str),
}

/// Kernel activity (`status` on iopub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionState {
    Starting,
    Busy,
    Idle,
    /// A state this decoder does not know (`restarting`, `dead` from some servers).
    Other(String),
}

/// How an `execute_reply` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyStatus {
    Ok,
    Error { ename: String, evalue: String },
    Aborted,
    Other(String),
}

/// What a message says, for the messages the door reads; anything else is [`Content::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Status(ExecutionState),
    /// `stdout` or `stderr` text.
    Stream {
        name: String,
        text: String,
    },
    /// `execute_result` or `display_data`: the `text/plain` form, when there is one.
    Result {
        execution_count: Option<u64>,
        text: Option<String>,
    },
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
    ExecuteReply {
        status: ReplyStatus,
        execution_count: Option<u64>,
    },
    Other,
}

/// One decoded kernel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `iopub`, `shell`, `stdin`, `control` (empty when a text frame names none).
    pub channel: String,
    pub msg_id: String,
    pub msg_type: String,
    /// The request this message answers (empty for unsolicited messages).
    pub parent_msg_id: String,
    pub content: Content,
}

/// A JSON text frame (the protocol without a websocket subprotocol).
pub fn decode_text(frame: &str) -> Result<Message, DecodeError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    let v: Value = serde_json::from_str(frame).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(DecodeError::Missing("a JSON object"));
    };
    let part = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    message(
        m.get("channel").and_then(Value::as_str).unwrap_or_default(),
        &part("header"),
        &part("parent_header"),
        &part("content"),
    )
}

/// The parts of a v1 binary frame: the channel name and the JSON parts after it (header,
/// parent header, metadata, content, then binary buffers), as byte ranges of `frame`.
fn v1_parts(frame: &[u8]) -> Result<(String, Vec<&[u8]>), DecodeError> {
    let bad = |m: String| DecodeError::Framing(m);
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    let word = |i: usize| -> Result<u64, DecodeError> {
        let start = i
            .checked_mul(8)
            .ok_or_else(|| bad("offset index overflows".into()))?;
        frame
            .get(start..start + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .ok_or_else(|| {
                bad(format!(
                    "frame of {} bytes ends inside its offset table",
                    frame.len()
                ))
            })
    };
    let count = word(0)?;
    if !(6..=MAX_PARTS + 1).contains(&count) {
        return Err(bad(format!(
            "{count} offsets (a message has 6 to {})",
            MAX_PARTS + 1
        )));
    }
    let count = count as usize;
    let mut offsets = Vec::with_capacity(count);
    for i in 0..count {
        let o = word(i + 1)?;
        let o = usize::try_from(o)
            .ok()
            .filter(|&o| o <= frame.len())
            .ok_or_else(|| {
                bad(format!(
                    "offset {o} past the end of a {}-byte frame",
                    frame.len()
                ))
            })?;
        if offsets.last().is_some_and(|&prev| o < prev) {
            return Err(bad("offsets go backwards".into()));
        }
        offsets.push(o);
    }
    if offsets[0] < 8 * (count + 1) {
        return Err(bad("the first part overlaps the offset table".into()));
    }
    let parts: Vec<&[u8]> = offsets.windows(2).map(|w| &frame[w[0]..w[1]]).collect();
    let channel = std::str::from_utf8(parts[0])
        .map_err(|_| bad("channel name is not UTF-8".into()))?
        .to_string();
    Ok((channel, parts[1..].to_vec()))
}

/// A binary frame of the `v1.kernel.websocket.jupyter.org` subprotocol.
pub fn decode_binary(frame: &[u8]) -> Result<Message, DecodeError> {
    let (channel, parts) = v1_parts(frame)?;
    let json = |i: usize, what: &'static str| -> Result<Value, DecodeError> {
        let p = parts.get(i).ok_or(DecodeError::Missing(what))?;
        if p.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        serde_json::from_slice(p).map_err(|e| DecodeError::NotJson(format!("{what}: {e}")))
    };
    message(
        &channel,
        &json(0, "a header")?,
        &json(1, "a parent header")?,
        &json(3, "content")?,
    )
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn message(
    channel: &str,
    header: &Value,
    parent: &Value,
    content: &Value,
) -> Result<Message, DecodeError> {
    if !header.is_object() {
        return Err(DecodeError::Missing("a header"));
    }
    let msg_type = text(header, "msg_type");
    if msg_type.is_empty() {
        return Err(DecodeError::Missing("a message type"));
    }
    let count = content.get("execution_count").and_then(Value::as_u64);
    let content = match msg_type.as_str() {
        "status" => Content::Status(match text(content, "execution_state").as_str() {
            "starting" => ExecutionState::Starting,
            "busy" => ExecutionState::Busy,
            "idle" => ExecutionState::Idle,
            other => ExecutionState::Other(other.to_string()),
        }),
        "stream" => Content::Stream {
            name: text(content, "name"),
            text: text(content, "text"),
        },
        "execute_result" | "display_data" => Content::Result {
            execution_count: count,
            text: content
                .pointer("/data/text~1plain")
                .and_then(Value::as_str)
                .map(String::from),
        },
        "error" => Content::Error {
            ename: text(content, "ename"),
            evalue: text(content, "evalue"),
            traceback: content
                .get("traceback")
                .and_then(Value::as_array)
                .map(|t| {
                    t.iter()
                        .take(MAX_TRACEBACK_LINES)
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        },
        "execute_reply" => Content::ExecuteReply {
            status: match text(content, "status").as_str() {
                "ok" => ReplyStatus::Ok,
                "error" => ReplyStatus::Error {
                    ename: text(content, "ename"),
                    evalue: text(content, "evalue"),
                },
                "aborted" | "abort" => ReplyStatus::Aborted,
                other => ReplyStatus::Other(other.to_string()),
            },
            execution_count: count,
        },
        _ => Content::Other,
    };
    Ok(Message {
        channel: channel.to_string(),
        msg_id: text(header, "msg_id"),
        msg_type,
        parent_msg_id: text(parent, "msg_id"),
        content,
    })
}

/// The header of a message kfcheck sends.
fn header(session: &str, msg_id: &str, msg_type: &str) -> Value {
    json!({
        "msg_id": msg_id,
        "session": session,
        "username": "kfcheck",
        "msg_type": msg_type,
        "version": "5.3",
    })
}

/// The content of an `execute_request` for `code`: no stdin (a probe that asks for input fails
/// rather than hangs); stored in the kernel's history (an execution count, `_`, `Out`) only for
/// a notebook's own cells.
fn execute_content(code: &str, store_history: bool) -> Value {
    json!({
        "code": code,
        "silent": false,
        "store_history": store_history,
        "user_expressions": {},
        "allow_stdin": false,
        "stop_on_error": true,
    })
}

/// An `execute_request` as a JSON text frame on the shell channel.
pub fn execute_request_text(session: &str, msg_id: &str, code: &str) -> String {
    execute_request_text_with(session, msg_id, code, false)
}

/// [`execute_request_text`], stored in the kernel's history when `store_history`.
pub fn execute_request_text_with(
    session: &str,
    msg_id: &str,
    code: &str,
    store_history: bool,
) -> String {
    json!({
        "channel": "shell",
        "header": header(session, msg_id, "execute_request"),
        "parent_header": {},
        "metadata": {},
        "content": execute_content(code, store_history),
        "buffers": [],
    })
    .to_string()
}

/// A v1 binary frame from its channel and JSON parts (header, parent header, metadata,
/// content): the offset count, the offsets (each part's start, then the end), the parts.
pub fn encode_binary(channel: &str, parts: [&Value; 4]) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = std::iter::once(channel.as_bytes().to_vec())
        .chain(parts.iter().map(|p| p.to_string().into_bytes()))
        .collect();
    let count = bodies.len() + 1;
    let mut offsets = Vec::with_capacity(count);
    let mut at = 8 * (count + 1);
    offsets.push(at);
    for b in &bodies {
        at += b.len();
        offsets.push(at);
    }
    let mut out = Vec::with_capacity(at);
    out.extend_from_slice(&(count as u64).to_le_bytes());
    for o in offsets {
        out.extend_from_slice(&(o as u64).to_le_bytes());
    }
    for b in bodies {
        out.extend_from_slice(&b);
    }
    out
}

/// An `execute_request` as a v1 binary frame on the shell channel.
pub fn execute_request_binary(session: &str, msg_id: &str, code: &str) -> Vec<u8> {
    execute_request_binary_with(session, msg_id, code, false)
}

/// [`execute_request_binary`], stored in the kernel's history when `store_history`.
pub fn execute_request_binary_with(
    session: &str,
    msg_id: &str,
    code: &str,
    store_history: bool,
) -> Vec<u8> {
    encode_binary(
        "shell",
        [
            &header(session, msg_id, "execute_request"),
            &json!({}),
            &json!({}),
            &execute_content(code, store_history),
        ],
    )
}

/// The whole `content` of a JSON text frame, as sent (a notebook keeps every output's MIME
/// bundle, not only what [`decode_text`] reads). `None` when the frame has none.
pub fn content_of_text(frame: &str) -> Option<Value> {
    if frame.len() > MAX_FRAME_BYTES {
        return None;
    }
    let mut v: Value = serde_json::from_str(frame).ok()?;
    v.get_mut("content").map(Value::take)
}

/// The whole `content` of a v1 binary frame, as sent.
pub fn content_of_binary(frame: &[u8]) -> Option<Value> {
    let (_, parts) = v1_parts(frame).ok()?;
    serde_json::from_slice(parts.get(3)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(channel: &str, msg_type: &str, parent: &str, content: Value) -> (String, Vec<u8>) {
        let h = json!({"msg_id": "m1", "msg_type": msg_type, "session": "s", "username": "u", "version": "5.3"});
        let p = json!({"msg_id": parent});
        let text = json!({"channel": channel, "header": h, "parent_header": p, "metadata": {}, "content": content}).to_string();
        (text, encode_binary(channel, [&h, &p, &json!({}), &content]))
    }

    #[test]
    fn both_framings_decode_the_messages_a_run_is_judged_by() {
        let cases = [
            (
                frame("iopub", "status", "r1", json!({"execution_state": "busy"})),
                Content::Status(ExecutionState::Busy),
            ),
            (
                frame(
                    "iopub",
                    "stream",
                    "r1",
                    json!({"name": "stdout", "text": "gpus: 1\n"}),
                ),
                Content::Stream {
                    name: "stdout".into(),
                    text: "gpus: 1\n".into(),
                },
            ),
            (
                frame(
                    "iopub",
                    "execute_result",
                    "r1",
                    json!({"execution_count": 3, "data": {"text/plain": "42"}, "metadata": {}}),
                ),
                Content::Result {
                    execution_count: Some(3),
                    text: Some("42".into()),
                },
            ),
            (
                frame(
                    "iopub",
                    "error",
                    "r1",
                    json!({"ename": "RuntimeError", "evalue": "CUDA error", "traceback": ["\u{1b}[0;31mRuntimeError\u{1b}[0m"]}),
                ),
                Content::Error {
                    ename: "RuntimeError".into(),
                    evalue: "CUDA error".into(),
                    traceback: vec!["\u{1b}[0;31mRuntimeError\u{1b}[0m".into()],
                },
            ),
            (
                frame(
                    "shell",
                    "execute_reply",
                    "r1",
                    json!({"status": "error", "ename": "E", "evalue": "v", "execution_count": 3}),
                ),
                Content::ExecuteReply {
                    status: ReplyStatus::Error {
                        ename: "E".into(),
                        evalue: "v".into(),
                    },
                    execution_count: Some(3),
                },
            ),
            (
                frame("shell", "kernel_info_reply", "r1", json!({"status": "ok"})),
                Content::Other,
            ),
        ];
        for ((text, binary), want) in cases {
            let a = decode_text(&text).unwrap();
            let b = decode_binary(&binary).unwrap();
            assert_eq!(a, b, "the two framings agree");
            assert_eq!(a.content, want);
            assert_eq!((a.msg_id.as_str(), a.parent_msg_id.as_str()), ("m1", "r1"));
        }
    }

    #[test]
    fn what_kfcheck_sends_decodes_as_an_execute_request() {
        let t = decode_text(&execute_request_text("s", "req-1", "print(1)")).unwrap();
        let b = decode_binary(&execute_request_binary("s", "req-1", "print(1)")).unwrap();
        assert_eq!(t, b);
        assert_eq!(
            (t.channel.as_str(), t.msg_type.as_str(), t.msg_id.as_str()),
            ("shell", "execute_request", "req-1")
        );
    }

    #[test]
    fn malformed_frames_are_errors_never_panics() {
        assert!(matches!(decode_text("nope"), Err(DecodeError::NotJson(_))));
        assert_eq!(
            decode_text("[1]"),
            Err(DecodeError::Missing("a JSON object"))
        );
        assert_eq!(
            decode_text(r#"{"header": {"msg_id": "x"}}"#),
            Err(DecodeError::Missing("a message type"))
        );
        for bad in [
            &b""[..],
            &[7, 0, 0, 0, 0, 0, 0, 0][..],
            &u64::MAX.to_le_bytes()[..],
            &[
                6, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ][..],
        ] {
            assert!(
                matches!(decode_binary(bad), Err(DecodeError::Framing(_))),
                "{bad:?}"
            );
        }
        // Offsets that go backwards, or a part over the offset table.
        let (_, mut good) = frame("iopub", "status", "r", json!({"execution_state": "idle"}));
        good[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_binary(&good).is_err());
        let (_, mut good) = frame("iopub", "status", "r", json!({"execution_state": "idle"}));
        good[8..16].copy_from_slice(&8u64.to_le_bytes());
        assert!(decode_binary(&good).is_err());
        let huge = "x".repeat(MAX_FRAME_BYTES + 1);
        assert_eq!(
            decode_text(&huge),
            Err(DecodeError::TooLarge(MAX_FRAME_BYTES + 1))
        );
    }

    #[test]
    fn a_traceback_is_capped() {
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let (text, _) = frame(
            "iopub",
            "error",
            "r",
            json!({"ename": "E", "evalue": "v", "traceback": lines}),
        );
        let Content::Error { traceback, .. } = decode_text(&text).unwrap().content else {
            panic!()
        };
        assert_eq!(traceback.len(), MAX_TRACEBACK_LINES);
    }
}
