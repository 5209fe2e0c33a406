//! Streaming readers for the three JSON Lines inputs: `--messages`, `--groups` and `--members`.
//!
//! Every line is one JSON object in the API's own field names (DESIGN.md "Command-line contracts"):
//!
//! - messages: `{"GroupId","From_Account","SendTime","MsgBody":[…],"Random"?,"SourceId"?,…}`; the
//!   message part decodes into [`ImportMsg`] (unknown fields are kept in its `extra`, as the model does);
//! - groups: [`ImportGroupRequest`] bodies, with `GroupId` required;
//! - members: `{"GroupId","Member_Account","Role"?,"JoinTime"?,"UnreadMsgNum"?}` ([`ImportMember`]).
//!
//! Readers hold one line at a time, so memory does not grow with the file. Blank lines are skipped,
//! a UTF-8 byte-order mark on line 1 is tolerated, and every error says where it is
//! ([`LineError`]: `file:line: JSON.path: what is wrong; what to do`).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tim_model::api::import_group::ImportGroupRequest;
use tim_model::api::import_group_member::ImportMember;
use tim_model::api::import_group_msg::ImportMsg;
use tim_model::{decode_json, DecodeError};

/// Wire name of the group ID field on every input line.
pub const GROUP_ID: &str = "GroupId";
/// Name of the optional source-system ID of a message (not sent to the server).
pub const SOURCE_ID: &str = "SourceId";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A problem with one input line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// JSON path of the offending value (`.` for the whole line), e.g. `MsgBody[0].MsgContent.Text`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.path, self.message
        )?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for LineError {}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read")]
    Io {
        /// The file as the user named it.
        file: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line is not what the input format expects.
    #[error(transparent)]
    Line(#[from] LineError),
}

impl InputError {
    /// Whether the error is about one line (the rest of the file may still be read).
    pub fn is_line(&self) -> bool {
        matches!(self, InputError::Line(_))
    }
}

/// One decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<T> {
    /// 1-based line number.
    pub line: u64,
    /// The line as read (without the line terminator and without a BOM).
    pub raw: String,
    /// The decoded value.
    pub value: T,
}

/// A line of the messages file.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageLine {
    /// The target group.
    pub group_id: String,
    /// The message's ID in the source system, if given (used to derive a stable `Random`).
    pub source_id: Option<String>,
    /// The message as sent to `import_group_msg` (`GroupId` and `SourceId` removed from `extra`).
    pub msg: ImportMsg,
}

/// A line of the groups file: an `import_group` body whose `GroupId` is present.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupLine {
    /// The group ID (required in the groups file: messages and members refer to it).
    pub group_id: String,
    /// The request body as read.
    pub request: ImportGroupRequest,
}

/// A line of the members file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLine {
    /// The group.
    pub group_id: String,
    /// The member as sent to `import_group_member`.
    pub member: ImportMember,
}

/// Why one line does not decode: where, what, and what to do (file and line are added by the reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// JSON path (`.` for the whole line).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

fn fault(path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Fault {
    Fault {
        path: path.into(),
        message: message.into(),
        hint: hint.into(),
    }
}

/// How one line type is decoded.
pub trait LineFormat {
    /// The decoded value.
    type Value;
    /// Decodes one non-blank line; errors carry a JSON path and a message (file and line are added by the reader).
    fn decode(text: &str) -> Result<Self::Value, Fault>;
}

/// The messages format ([`MessageLine`]).
#[derive(Debug)]
pub enum Messages {}
/// The groups format ([`GroupLine`]).
#[derive(Debug)]
pub enum Groups {}
/// The members format ([`MemberLine`]).
#[derive(Debug)]
pub enum Members {}

impl LineFormat for Messages {
    type Value = MessageLine;
    fn decode(text: &str) -> Result<MessageLine, Fault> {
        decode_message(text)
    }
}

impl LineFormat for Groups {
    type Value = GroupLine;
    fn decode(text: &str) -> Result<GroupLine, Fault> {
        let request: ImportGroupRequest = decode_json(text.as_bytes()).map_err(from_decode)?;
        let Some(group_id) = request.profile.group_id.clone() else {
            return Err(fault(
                GROUP_ID,
                "missing field `GroupId`",
                "give every group its ID: messages and members refer to groups by GroupId",
            ));
        };
        Ok(GroupLine { group_id, request })
    }
}

impl LineFormat for Members {
    type Value = MemberLine;
    fn decode(text: &str) -> Result<MemberLine, Fault> {
        let mut obj = decode_object(text)?;
        let group_id = group_id_of(obj.remove(GROUP_ID))?;
        let member: ImportMember =
            serde_path_to_error::deserialize(Value::Object(obj)).map_err(|e| {
                let path = e.path().to_string();
                shape_error(&path, &e.into_inner().to_string())
            })?;
        Ok(MemberLine { group_id, member })
    }
}

/// Decodes one line of the messages file (also used to re-read prepared lines).
pub fn decode_message(text: &str) -> Result<MessageLine, Fault> {
    let mut msg: ImportMsg = decode_json(text.as_bytes()).map_err(from_decode)?;
    let group_id = group_id_of(msg.extra.remove(GROUP_ID))?;
    let source_id = match msg.extra.remove(SOURCE_ID) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(fault(
                SOURCE_ID,
                format!(
                    "invalid type: {}, expected a string or a number",
                    kind(&other)
                ),
                "SourceId is your system's message ID: a string or an integer",
            ))
        }
    };
    Ok(MessageLine {
        group_id,
        source_id,
        msg,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn decode_object(text: &str) -> Result<serde_json::Map<String, Value>, Fault> {
    match decode_json::<Value>(text.as_bytes()).map_err(from_decode)? {
        Value::Object(m) => Ok(m),
        other => Err(fault(
            ".",
            format!("invalid type: {}, expected a JSON object", kind(&other)),
            "write one JSON object per line",
        )),
    }
}

fn group_id_of(v: Option<Value>) -> Result<String, Fault> {
    match v {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(fault(
            GROUP_ID,
            "missing field `GroupId`",
            "add the ID of the group the line belongs to",
        )),
        Some(other) => Err(fault(
            GROUP_ID,
            format!("invalid type: {}, expected a string", kind(&other)),
            "GroupId is a string",
        )),
    }
}

fn from_decode(e: DecodeError) -> Fault {
    match e {
        DecodeError::Syntax(m) => fault(
            ".",
            format!(
                "not valid JSON: {}",
                m.replace(" at line 1 column ", " at column ")
            ),
            "write one complete JSON object per line (JSON Lines)",
        ),
        DecodeError::Shape { path, message } => shape_error(&path, &message),
    }
}

/// Turns a serde shape error into (path, message, hint); a missing field is reported at its own path.
fn shape_error(path: &str, message: &str) -> Fault {
    let path = if path.is_empty() { "." } else { path };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let full = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return fault(
            full,
            message,
            "add the field (see the input format in `tim-migrate check --help`)",
        );
    }
    if path == "." {
        if let Some(i) = message.find(", expected struct ") {
            return fault(
                path,
                format!("{}, expected a JSON object", &message[..i]),
                "write one JSON object per line",
            );
        }
    }
    let hint = if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "fix the value's type"
    } else if message.starts_with("unknown variant") {
        "use one of the values listed"
    } else {
        "fix the value"
    };
    fault(path, message, hint)
}

/// A streaming reader of one JSON Lines file of format `F`.
///
/// Yields `Ok(Record)` per non-blank line, `Err(InputError::Line)` for a line that does not decode
/// (reading continues with the next line), and `Err(InputError::Io)` once if the file cannot be read
/// (then the iterator ends).
pub struct JsonlReader<F: LineFormat, R = BufReader<File>> {
    reader: R,
    file: String,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    done: bool,
    _format: PhantomData<F>,
}

impl<F: LineFormat, R> fmt::Debug for JsonlReader<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonlReader")
            .field("file", &self.file)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<F: LineFormat> JsonlReader<F> {
    /// Opens `path`; the file is named in errors as `path` was written.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let file = File::open(path).map_err(|source| InputError::Io {
            file: display_path(path),
            source,
        })?;
        Ok(Self::new(
            BufReader::with_capacity(64 * 1024, file),
            display_path(path),
        ))
    }
}

impl<F: LineFormat, R: BufRead> JsonlReader<F, R> {
    /// Reads from any buffered reader; `file` names it in errors.
    pub fn new(reader: R, file: impl Into<String>) -> Self {
        JsonlReader {
            reader,
            file: file.into(),
            line: 0,
            offset: 0,
            buf: Vec::with_capacity(1024),
            done: false,
            _format: PhantomData,
        }
    }

    /// Byte offset of the next line.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn error(&self, f: Fault) -> InputError {
        InputError::Line(LineError {
            file: self.file.clone(),
            line: self.line,
            path: f.path,
            message: f.message,
            hint: f.hint,
        })
    }
}

impl<F: LineFormat, R: BufRead> Iterator for JsonlReader<F, R> {
    type Item = Result<Record<F::Value>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            self.buf.clear();
            let n = match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(n) => n,
                Err(source) => {
                    self.done = true;
                    return Some(Err(InputError::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
            };
            self.offset += n as u64;
            self.line += 1;
            let mut bytes = &self.buf[..];
            if self.line == 1 {
                bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
            }
            while let Some(rest) = bytes
                .strip_suffix(b"\n")
                .or_else(|| bytes.strip_suffix(b"\r"))
            {
                bytes = rest;
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(self.error(fault(
                        ".",
                        format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
                        "save the file as UTF-8",
                    ))))
                }
            };
            return Some(match F::decode(text) {
                Ok(value) => Ok(Record {
                    line: self.line,
                    raw: text.to_owned(),
                    value,
                }),
                Err(e) => Err(self.error(e)),
            });
        }
    }
}

/// Reads all of `reader` into a `JsonlReader` over memory (for tests and small inputs).
pub fn from_reader<F: LineFormat, R: Read>(
    reader: R,
    file: impl Into<String>,
) -> JsonlReader<F, BufReader<R>> {
    JsonlReader::new(BufReader::new(reader), file)
}

/// The messages reader type.
pub type MessageReader = JsonlReader<Messages>;
/// The groups reader type.
pub type GroupReader = JsonlReader<Groups>;
/// The members reader type.
pub type MemberReader = JsonlReader<Members>;

/// How a path is shown in messages: as given (lossy for non-UTF-8 names).
pub fn display_path(path: &Path) -> String {
    path.display().to_string()
}

/// Paths of the three inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPaths {
    /// `--messages` (required).
    pub messages: PathBuf,
    /// `--groups`, if given.
    pub groups: Option<PathBuf>,
    /// `--members`, if given.
    pub members: Option<PathBuf>,
}

impl InputPaths {
    /// Opens each given file once, so that a missing or unreadable input stops a run before it
    /// contacts the target.
    pub fn ensure_readable(&self) -> Result<(), InputError> {
        let all = [
            Some(&self.messages),
            self.groups.as_ref(),
            self.members.as_ref(),
        ];
        for path in all.into_iter().flatten() {
            ensure_readable(path)?;
        }
        Ok(())
    }
}

/// Opens `path` for reading and closes it again.
pub fn ensure_readable(path: &Path) -> Result<(), InputError> {
    File::open(path).map(drop).map_err(|source| InputError::Io {
        file: display_path(path),
        source,
    })
}

/// The decoded lines of a file and the errors of the others.
pub type Decoded<T> = (Vec<Record<T>>, Vec<LineError>);

/// Decodes a whole small file eagerly (groups, members), stopping at the first I/O error and
/// collecting every line error.
pub fn read_all<F: LineFormat>(path: &Path) -> Result<Decoded<F::Value>, InputError> {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for r in JsonlReader::<F>::open(path)? {
        match r {
            Ok(rec) => ok.push(rec),
            Err(InputError::Line(e)) => bad.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((ok, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<F: LineFormat>(s: &[u8]) -> Vec<Result<Record<F::Value>, String>> {
        from_reader::<F, _>(s, "in.jsonl")
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn messages_decode_with_extras_and_errors() {
        let input = b"\xEF\xBB\xBF{\"GroupId\":\"g\",\"From_Account\":\"a\",\"SendTime\":5,\"MsgBody\":[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"hi\"}}],\"SourceId\":7,\"X\":1}\r\n\n   \n{\"GroupId\":\"g\",\"SendTime\":5}\n{\"GroupId\":\"g\",\"From_Account\":\"a\",\"SendTime\":\"x\",\"MsgBody\":[]}\nnot json\n\xff\n";
        let out = read::<Messages>(input);
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.line, 1);
        assert_eq!(first.value.group_id, "g");
        assert_eq!(first.value.source_id.as_deref(), Some("7"));
        assert_eq!(first.value.msg.extra.keys().collect::<Vec<_>>(), ["X"]);
        assert!(first.raw.starts_with('{'));
        assert_eq!(
            out[1].as_ref().unwrap_err(),
            "in.jsonl:4: From_Account: missing field `From_Account`; add the field (see the input format in `tim-migrate check --help`)"
        );
        assert!(out[2]
            .as_ref()
            .unwrap_err()
            .starts_with("in.jsonl:5: SendTime: invalid type: string \"x\", expected i64"));
        assert!(out[3]
            .as_ref()
            .unwrap_err()
            .starts_with("in.jsonl:6: .: not valid JSON: expected ident at column 2"));
        assert_eq!(
            out[4].as_ref().unwrap_err(),
            "in.jsonl:7: .: invalid UTF-8 at byte 1 of the line; save the file as UTF-8"
        );
        assert_eq!(out.len(), 5);
    }

    #[test]
    fn members_and_groups() {
        let out = read::<Members>(
            b"{\"GroupId\":\"g\",\"Member_Account\":\"m\",\"UnreadMsgNum\":3}\n{\"GroupId\":\"g\",\"Member_Account\":\"m\",\"JoinTime\":\"x\"}\n[]\n",
        );
        assert_eq!(
            out[0].as_ref().unwrap().value.member.unread_msg_num,
            Some(3)
        );
        assert!(out[1]
            .as_ref()
            .unwrap_err()
            .starts_with("in.jsonl:2: JoinTime: invalid type"));
        assert!(out[2]
            .as_ref()
            .unwrap_err()
            .starts_with("in.jsonl:3: .: invalid type: array"));
        let out = read::<Groups>(
            b"{\"GroupId\":\"g\",\"Type\":\"Public\",\"Name\":\"n\",\"CreateTime\":1}\n{\"Type\":\"Public\",\"Name\":\"n\"}\n",
        );
        assert_eq!(out[0].as_ref().unwrap().value.request.create_time, Some(1));
        assert!(out[1]
            .as_ref()
            .unwrap_err()
            .starts_with("in.jsonl:2: GroupId: missing field `GroupId`"));
    }
}
