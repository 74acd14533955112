//! The channel protocol of `pods/exec` and `pods/attach` over a WebSocket
//! (`v5.channel.k8s.io`, and `v4.channel.k8s.io` without the close channel), no I/O: every
//! binary message starts with a channel byte — 0 stdin, 1 stdout, 2 stderr, 3 status (a
//! `metav1.Status` as JSON when the command ends), 4 resize (`{"Width":W,"Height":H}`) —
//! and, in v5, 255 followed by a channel number says the sender closed that channel
//! (`FF 00`: the client's stdin ended).

use serde_json::{Value, json};

/// The WebSocket subprotocols served, most preferred first.
pub const PROTOCOLS: &[&str] = &[V5, V4];
/// `v5.channel.k8s.io`: v4 plus the close channel.
pub const V5: &str = "v5.channel.k8s.io";
/// `v4.channel.k8s.io`: the status channel carries a `metav1.Status`.
pub const V4: &str = "v4.channel.k8s.io";

/// Channel numbers.
pub mod channel {
    /// The program's stdin (client → server).
    pub const STDIN: u8 = 0;
    /// The program's stdout (server → client).
    pub const STDOUT: u8 = 1;
    /// The program's stderr (server → client).
    pub const STDERR: u8 = 2;
    /// The outcome, once (server → client).
    pub const STATUS: u8 = 3;
    /// Terminal size changes (client → server).
    pub const RESIZE: u8 = 4;
    /// v5: "I closed channel N" (either way).
    pub const CLOSE: u8 = 255;
}

/// A terminal size, as the resize channel carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// What a client's binary message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame<'a> {
    /// Bytes for the program's stdin.
    Stdin(&'a [u8]),
    /// The terminal was resized.
    Resize(TerminalSize),
    /// The client closed a channel (v5; channel 0: stdin ended).
    Close(u8),
}

/// Why a client's message cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// An empty message (no channel byte).
    #[error("an empty message has no channel")]
    Empty,
    /// A channel the client may not write (or that does not exist).
    #[error("channel {0} cannot be written by the client")]
    Channel(u8),
    /// A resize message that is not `{"Width":W,"Height":H}`.
    #[error("bad resize message: {0}")]
    Resize(String),
    /// A close message without the channel it closes.
    #[error("a close message must name one channel")]
    Close,
}

/// Decodes a client's binary message under `protocol`.
pub fn decode<'a>(protocol: &str, message: &'a [u8]) -> Result<ClientFrame<'a>, FrameError> {
    let (&first, rest) = message.split_first().ok_or(FrameError::Empty)?;
    match first {
        channel::STDIN => Ok(ClientFrame::Stdin(rest)),
        channel::RESIZE => parse_resize(rest).map(ClientFrame::Resize),
        channel::CLOSE if protocol == V5 => match rest {
            [channel] => Ok(ClientFrame::Close(*channel)),
            _ => Err(FrameError::Close),
        },
        other => Err(FrameError::Channel(other)),
    }
}

/// Parses a resize message's body (kube's `TerminalSize`: `Width` and `Height`, both
/// unsigned 16-bit).
fn parse_resize(body: &[u8]) -> Result<TerminalSize, FrameError> {
    let bad = |why: &str| FrameError::Resize(why.to_string());
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(&e.to_string()))?;
    let field = |name: &str| -> Result<u16, FrameError> {
        value
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| bad(&format!("{name} is not a number from 0 to 65535")))
    };
    Ok(TerminalSize {
        width: field("Width")?,
        height: field("Height")?,
    })
}

/// A message for the client: `channel`, then `data`.
pub fn encode(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(channel);
    out.extend_from_slice(data);
    out
}

/// v5's "this server closed `channel`".
pub fn encode_close(channel: u8) -> Vec<u8> {
    vec![channel::CLOSE, channel]
}

/// How a session ended, as the status channel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The program exited with this code (0: success; a signal as 128 + its number).
    Exited(i32),
    /// The session failed (the program could not be started, the container went away):
    /// reported as kube's internal error with this message.
    Failed(String),
}

/// The status message of `outcome` (channel byte included), as kubelet writes it: `Success`;
/// a non-zero exit as `Failure`/`NonZeroExitCode` with an `ExitCode` cause (kubectl exits
/// with that code); a failure as a 500 `InternalError`.
pub fn status_message(outcome: &Outcome) -> Vec<u8> {
    let status = match outcome {
        Outcome::Exited(0) => json!({
            "metadata": {},
            "status": "Success",
        }),
        Outcome::Exited(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command [exit status {code}], exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Outcome::Failed(message) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("Internal error occurred: {message}"),
            "reason": "InternalError",
            "details": {"causes": [{"message": message}]},
            "code": 500,
        }),
    };
    let mut out = vec![channel::STATUS];
    serde_json::to_writer(&mut out, &status).expect("a JSON value serializes");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_decode_by_channel() {
        assert_eq!(decode(V5, b"\x00hello"), Ok(ClientFrame::Stdin(b"hello")));
        assert_eq!(decode(V5, b"\x00"), Ok(ClientFrame::Stdin(b"")));
        assert_eq!(
            decode(V4, b"\x04{\"Width\":120,\"Height\":40}"),
            Ok(ClientFrame::Resize(TerminalSize {
                width: 120,
                height: 40
            }))
        );
        assert_eq!(decode(V5, b"\xff\x00"), Ok(ClientFrame::Close(0)));
        assert_eq!(decode(V5, b""), Err(FrameError::Empty));
        assert_eq!(decode(V5, b"\x01out"), Err(FrameError::Channel(1)));
        assert_eq!(decode(V5, b"\x03{}"), Err(FrameError::Channel(3)));
        // v4 has no close channel.
        assert_eq!(decode(V4, b"\xff\x00"), Err(FrameError::Channel(255)));
        assert_eq!(decode(V5, b"\xff"), Err(FrameError::Close));
        assert_eq!(decode(V5, b"\xff\x00\x01"), Err(FrameError::Close));
    }

    #[test]
    fn bad_resizes_are_refused() {
        for body in [
            &b"\x04"[..],
            b"\x04{\"Width\":80}",
            b"\x04{\"Width\":-1,\"Height\":2}",
            b"\x04{\"Width\":70000,\"Height\":2}",
            b"\x04{\"Width\":\"80\",\"Height\":24}",
            b"\x04not json",
        ] {
            assert!(
                matches!(decode(V5, body), Err(FrameError::Resize(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn server_frames_carry_their_channel() {
        assert_eq!(encode(channel::STDOUT, b"hi\n"), b"\x01hi\n");
        assert_eq!(encode(channel::STDERR, b""), b"\x02");
        assert_eq!(encode_close(channel::STDOUT), b"\xff\x01");
    }

    #[test]
    fn statuses_are_what_kubectl_reads() {
        let decode_status = |m: Vec<u8>| -> Value {
            assert_eq!(m[0], channel::STATUS);
            serde_json::from_slice(&m[1..]).unwrap()
        };
        let ok = decode_status(status_message(&Outcome::Exited(0)));
        assert_eq!(ok["status"], "Success");
        let three = decode_status(status_message(&Outcome::Exited(3)));
        assert_eq!(three["status"], "Failure");
        assert_eq!(three["reason"], "NonZeroExitCode");
        assert_eq!(three["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(three["details"]["causes"][0]["message"], "3");
        let failed = decode_status(status_message(&Outcome::Failed("no such file".into())));
        assert_eq!(failed["reason"], "InternalError");
        assert_eq!(failed["code"], 500);
        assert_eq!(failed["message"], "Internal error occurred: no such file");
    }
}
