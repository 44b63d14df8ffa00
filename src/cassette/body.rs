//! A recorded response body, in the most readable form that gives its exact bytes back:
//! readable JSON, one member per line in the order AWS sent them; else UTF-8 text; else
//! base64.
//!
//! A body is stored as JSON only when it is JSON with no whitespace between its tokens, as
//! AWS sends it: then laying it out on lines adds only whitespace, and removing that whitespace
//! gives the bytes back, escapes, number spellings and member order untouched. The layout is
//! done on the text, token by token, never through a parsed tree, which would reorder members
//! or respell numbers (`1.7E9`). This module does not redact bodies (`redact.rs`) and knows
//! nothing of the rest of a cassette (`format.rs`).

use std::fmt;
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::{Deserializer, Error as _, IgnoredAny};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::value::RawValue;

/// Body bytes: readable JSON when they are compact JSON, text when they are UTF-8, base64
/// otherwise.
#[derive(Clone, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// A compact JSON object or array, exactly as sent ([`Body::from_bytes`] decides); written
    /// laid out on lines. Text that is not JSON is written as `utf8`, the same bytes.
    Json(#[serde(deserialize_with = "compacted")] String),
    /// The body as UTF-8 text, exactly.
    Utf8(String),
    /// The body bytes, base64 (standard alphabet, padded).
    Base64(String),
}

impl fmt::Debug for Body {
    // Bodies can be large; a summary keeps logs and test failures readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(text) => write!(f, "Json({} bytes)", text.len()),
            Self::Utf8(text) => write!(f, "Utf8({} bytes)", text.len()),
            Self::Base64(text) => write!(f, "Base64({} chars)", text.len()),
        }
    }
}

/// Two bodies are equal when their bytes are, whichever form holds them.
impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        match (self.text(), other.text()) {
            (Some(a), Some(b)) => a == b,
            (None, None) => self.to_bytes() == other.to_bytes(),
            _ => false,
        }
    }
}

impl Body {
    /// The body for these bytes, in the most readable form that gives them back exactly.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::from_text(text.to_owned()),
            Err(_) => Self::Base64(BASE64.encode(bytes)),
        }
    }

    /// The body for this text: readable JSON when it is compact JSON.
    pub fn from_text(text: String) -> Self {
        if is_compact_json(&text) {
            Self::Json(text)
        } else {
            Self::Utf8(text)
        }
    }

    /// The same bytes in their most readable form; `None` when they already are.
    pub fn made_readable(&self) -> Option<Self> {
        match self {
            Self::Utf8(text) if is_compact_json(text) => Some(Self::Json(text.clone())),
            _ => None,
        }
    }

    /// The body as text, unless it is stored as base64.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Json(text) | Self::Utf8(text) => Some(text),
            Self::Base64(_) => None,
        }
    }

    /// The exact bytes.
    pub fn to_bytes(&self) -> Result<Bytes, String> {
        match self {
            Self::Json(text) | Self::Utf8(text) => Ok(Bytes::copy_from_slice(text.as_bytes())),
            Self::Base64(text) => BASE64
                .decode(text)
                .map(Bytes::from)
                .map_err(|e| format!("response body is not valid base64: {e}")),
        }
    }
}

/// Whether `text` is a JSON object or array with no whitespace between its tokens.
fn is_compact_json(text: &str) -> bool {
    is_compact(text) && serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Whether `text` starts as an object or array and has no whitespace between its tokens.
fn is_compact(text: &str) -> bool {
    let mut tokens = Tokens::default();
    (text.starts_with('{') || text.starts_with('['))
        && (text.bytes()).all(|byte| tokens.in_string(byte) || !byte.is_ascii_whitespace())
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A JSON body is written as a raw JSON value, which `to_vec_pretty` lays out.
        let (index, variant, raw, text) = match self {
            Self::Json(text) => match serde_json::from_str::<&RawValue>(text) {
                Ok(raw) if is_compact(text) => (0, "json", Some(raw), text),
                _ => (1, "utf8", None, text),
            },
            Self::Utf8(text) => (1, "utf8", None, text),
            Self::Base64(text) => (2, "base64", None, text),
        };
        match raw {
            Some(raw) => serializer.serialize_newtype_variant("Body", index, variant, raw),
            None => serializer.serialize_newtype_variant("Body", index, variant, text),
        }
    }
}

/// Reads a laid-out JSON body back into its compact bytes.
fn compacted<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    String::from_utf8(without_layout(raw.get().as_bytes()))
        .map_err(|_| D::Error::custom("a JSON body is not UTF-8"))
}

/// JSON text without the whitespace between its tokens; strings are kept as they are.
fn without_layout(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut tokens = Tokens::default();
    for &byte in text {
        if tokens.in_string(byte) || !byte.is_ascii_whitespace() {
            out.push(byte);
        }
    }
    out
}

/// Where a byte of JSON text falls: inside a string (escapes included) or between tokens.
#[derive(Default)]
struct Tokens {
    in_string: bool,
    escaped: bool,
}

impl Tokens {
    /// Whether `byte`, the next byte of the text, is part of a string (its quotes included).
    fn in_string(&mut self, byte: u8) -> bool {
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            true
        } else {
            self.in_string = byte == b'"';
            self.in_string
        }
    }
}

/// Indentation of a cassette file: two spaces, serde_json's pretty default.
const INDENT: &[u8] = b"  ";

/// A value as pretty JSON, with JSON bodies laid out one member per line at their depth.
pub(super) fn to_vec_pretty<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    let formatter = LayingOut {
        pretty: PrettyFormatter::with_indent(INDENT),
        depth: 0,
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value
        .serialize(&mut serializer)
        .expect("a cassette always serializes");
    bytes
}

/// serde_json's pretty formatter, counting how deep it is so that a raw JSON body can be laid
/// out at that depth.
struct LayingOut<'a> {
    pretty: PrettyFormatter<'a>,
    depth: usize,
}

impl Formatter for LayingOut<'_> {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.pretty.begin_array(writer)
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        self.pretty.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth += 1;
        self.pretty.begin_object(writer)
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth -= 1;
        self.pretty.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(writer)
    }

    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        writer.write_all(&laid_out(fragment.as_bytes(), self.depth))
    }
}

/// Compact JSON text laid out as serde_json's pretty printer lays a value out `depth` levels
/// deep: a member or element per line, `": "` after keys, `{}` and `[]` when empty.
fn laid_out(compact: &[u8], mut depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let new_line = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        for _ in 0..depth {
            out.extend_from_slice(INDENT);
        }
    };
    let mut tokens = Tokens::default();
    let mut bytes = compact.iter().copied().peekable();
    while let Some(byte) = bytes.next() {
        if tokens.in_string(byte) {
            out.push(byte);
            continue;
        }
        match byte {
            b'{' | b'[' => {
                out.push(byte);
                let close = if byte == b'{' { b'}' } else { b']' };
                if bytes.next_if_eq(&close).is_some() {
                    out.push(close);
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(byte);
            }
            b',' => {
                out.push(byte);
                new_line(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(byte),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body recorded and read back from a cassette-shaped document.
    fn round_trip(body: &Body) -> (String, Body) {
        #[derive(Serialize, Deserialize)]
        struct Doc {
            body: Body,
        }
        let text = String::from_utf8(to_vec_pretty(&Doc { body: body.clone() })).unwrap();
        let read: Doc = serde_json::from_str(&text).unwrap();
        (text, read.body)
    }

    #[test]
    fn a_compact_json_body_is_laid_out_in_awss_member_order_and_read_back_to_its_bytes() {
        // AWS's member order (not sorted), a Java-spelled double, escapes and a string with
        // structural characters and spaces in it.
        let sent = r#"{"Parameters":[{"Name":"/a b","LastModifiedDate":1.700000000123E9,"Value":"x,\"y\":[1]\u00e9\\"}],"NextToken":"t","Empty":{},"None":[]}"#;
        let body = Body::from_bytes(sent.as_bytes());
        assert!(matches!(body, Body::Json(_)), "{body:?}");
        let (file, read) = round_trip(&body);
        assert_eq!(
            file,
            r#"{
  "body": {
    "json": {
      "Parameters": [
        {
          "Name": "/a b",
          "LastModifiedDate": 1.700000000123E9,
          "Value": "x,\"y\":[1]\u00e9\\"
        }
      ],
      "NextToken": "t",
      "Empty": {},
      "None": []
    }
  }
}"#
        );
        assert_eq!(read.to_bytes().unwrap(), sent.as_bytes());
        assert!(matches!(read, Body::Json(_)));
    }

    #[test]
    fn bodies_whose_bytes_the_layout_would_change_stay_text_or_base64() {
        for text in [
            r#"{"a": 1}"#,        // whitespace between tokens
            "{\"a\":1}\n",        // a trailing newline
            r#""just a string""#, // not structured
            r#"{"a":1"#,          // not JSON
            "<xml/>",             // not JSON at all
            "",                   // empty
        ] {
            let body = Body::from_bytes(text.as_bytes());
            assert_eq!(body, Body::Utf8(text.to_owned()), "{text:?}");
            let (_, read) = round_trip(&body);
            assert_eq!(read.to_bytes().unwrap(), text.as_bytes(), "{text:?}");
        }
        let binary = Body::from_bytes(&[0xff, 0x00]);
        assert!(matches!(binary, Body::Base64(_)));
        assert_eq!(round_trip(&binary).1.to_bytes().unwrap(), &[0xff, 0x00][..]);
    }

    #[test]
    fn older_text_bodies_read_unchanged_and_are_made_readable_on_request() {
        let old: Body = serde_json::from_str(r#"{"utf8": "{\"WindowId\":\"mw-1\"}"}"#).unwrap();
        assert_eq!(old, Body::Utf8(r#"{"WindowId":"mw-1"}"#.to_owned()));
        let readable = old.made_readable().unwrap();
        assert!(matches!(readable, Body::Json(_)));
        assert_eq!(readable, old, "the same bytes");
        assert_eq!(readable.made_readable(), None);
    }

    #[test]
    fn a_hand_edited_json_body_is_replayed_compact() {
        let edited: Body =
            serde_json::from_str("{\"json\": {\n\t\"A\" : [ 1 , \"b c\" ] ,\"B\":null }}").unwrap();
        assert_eq!(
            edited.to_bytes().unwrap(),
            r#"{"A":[1,"b c"],"B":null}"#.as_bytes()
        );
        assert!(serde_json::from_str::<Body>(r#"{"json": {"A": }}"#).is_err());
    }

    #[test]
    fn a_json_body_built_from_text_that_is_not_compact_json_is_written_as_that_text() {
        for text in ["not json", r#"{"a": 1}"#] {
            let (file, read) = round_trip(&Body::Json(text.to_owned()));
            assert!(file.contains(r#""utf8": "#), "{file}");
            assert_eq!(read.to_bytes().unwrap(), text.as_bytes());
        }
    }
}
