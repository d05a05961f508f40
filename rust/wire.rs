//! The wire codec: DynamoDB JSON request bodies written straight from Python values, response
//! bodies read straight into what botocore's parser returns (or, with a `Schema`, into model
//! values). Mirrors `dynamo_bao.core._pure_wire`, whose docstring records the decisions.
//!
//! A response is first parsed into a `Doc`: two flat tapes of plain-data values and object
//! entries, strings and numbers as spans of the body (strings with escapes: of one buffer of
//! their decoded text), so no allocation per node; the GIL is released for large bodies.
//! Python objects are then made once, in the shape asked for, never as intermediate
//! AttributeValue dicts on the schema path (object keys: one string per distinct key).

use std::cell::RefCell;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PySet, PyString,
    PyTuple,
};

use crate::errors::{CoreError, CoreResult};
use crate::marshal::{
    decimal_from_text, dict_entries, dict_set, float_from_text, int_from_text, is_bytes_like,
    is_int_literal, is_number_text, to_bytes, Tag, MAX_DEPTH,
};
use crate::py_types::type_name;
use crate::schema::{copy_dict, dict_del, misfit, stored_timestamp, FieldKind, Schema, Stored};

/// Nesting limit of a whole JSON document (the top value is level 1).
pub const MAX_JSON_DEPTH: usize = 128;

/// Bodies at least this long are parsed with the GIL released.
const DETACH_AT: usize = 8 * 1024;

fn bad(what: impl std::fmt::Display) -> CoreError {
    CoreError::validation(format!("invalid DynamoDB response: {what}"))
}

// ------------------------------------------------------------------------------------------
// Base64 (standard alphabet, padded)

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode_into(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len().div_ceil(3) * 4);
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            B64[(n >> 18) as usize & 63],
            B64[(n >> 12) as usize & 63],
            B64[(n >> 6) as usize & 63],
            B64[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[B64[(n >> 18) as usize & 63], B64[(n >> 12) as usize & 63]]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                B64[(n >> 18) as usize & 63],
                B64[(n >> 12) as usize & 63],
                B64[(n >> 6) as usize & 63],
            ]);
            out.push(b'=');
        }
        _ => {}
    }
}

/// Each byte's 6-bit value in the standard alphabet, `INVALID` for every other byte.
const B64_VALUES: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    t
};
const INVALID: u8 = 0xFF;

/// The data characters of strict base64 text: a multiple of 4 characters, at most two `=` and
/// only at the end (the data itself is checked by the caller, through `B64_VALUES`).
fn b64_data(b: &[u8]) -> Option<&[u8]> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    let pad = match b {
        [.., b'=', b'=', b'='] => return None,
        [.., b'=', b'='] => 2,
        [.., b'='] => 1,
        _ => 0,
    };
    b.get(..b.len() - pad)
}

/// Strict base64 (see `b64_data`). Unused low bits of the last group are ignored, as Python's
/// decoder does.
fn b64_decode(text: &str) -> CoreResult<Vec<u8>> {
    let invalid = || bad(format!("invalid base64 {text:?}"));
    let data = b64_data(text.as_bytes()).ok_or_else(invalid)?;
    let quads = data.chunks_exact(4);
    let tail = quads.remainder();
    // 2 characters of a padded last group make one byte, 3 make two.
    let mut out = vec![0; data.len() / 4 * 3 + tail.len().saturating_sub(1)];
    let (whole, last) = out.split_at_mut(data.len() / 4 * 3);
    for (q, o) in quads.zip(whole.chunks_exact_mut(3)) {
        let (a, b, c, d) = (
            B64_VALUES[usize::from(q[0])],
            B64_VALUES[usize::from(q[1])],
            B64_VALUES[usize::from(q[2])],
            B64_VALUES[usize::from(q[3])],
        );
        // Valid values are below 64, so one test catches an invalid byte among the four.
        if (a | b | c | d) & 0xC0 != 0 {
            return Err(invalid());
        }
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        o.copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let mut n: u32 = 0;
    for &c in tail {
        let v = B64_VALUES[usize::from(c)];
        if v == INVALID {
            return Err(invalid());
        }
        n = (n << 6) | u32::from(v);
    }
    // Left-align the 12 or 18 bits; the low bits beyond the last whole byte are dropped.
    let n = n << ((32 - 6 * tail.len() as u32) % 32);
    for (k, o) in last.iter_mut().enumerate() {
        *o = (n >> (24 - 8 * k)) as u8;
    }
    Ok(out)
}

/// Whether `text` is strict base64, as `b64_decode` reads it, without decoding it.
fn b64_check(text: &str) -> CoreResult<()> {
    match b64_data(text.as_bytes()) {
        Some(data) if data.iter().all(|&c| B64_VALUES[usize::from(c)] != INVALID) => Ok(()),
        _ => Err(bad(format!("invalid base64 {text:?}"))),
    }
}

// ------------------------------------------------------------------------------------------
// Requests

fn too_deep_request() -> PyErr {
    CoreError::validation(format!(
        "request is nested deeper than {MAX_JSON_DEPTH} levels"
    ))
    .into()
}

/// A JSON string as `json.dumps(..., ensure_ascii=False)` writes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escape: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 15)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn py_text<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    s.to_str().map_err(|_| {
        CoreError::validation("request text contains a lone surrogate".to_owned()).into()
    })
}

/// A JSON array of the items (a list or tuple of the request).
fn write_array<'py>(
    out: &mut Vec<u8>,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> PyResult<()> {
    if depth >= MAX_JSON_DEPTH {
        return Err(too_deep_request());
    }
    out.push(b'[');
    for (n, v) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_value(out, &v, depth + 1)?;
    }
    out.push(b']');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
    let py = value.py();
    // Same dispatch order as the pure core.
    if let Ok(s) = value.cast::<PyString>() {
        write_str(out, py_text(s)?);
    } else if value.is_instance_of::<PyBool>() {
        out.extend_from_slice(if value.is_truthy()? {
            b"true"
        } else {
            b"false"
        });
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
            Err(_) => {
                let text = py
                    .get_type::<PyInt>()
                    .call_method1(intern!(py, "__repr__"), (value,))?;
                out.extend_from_slice(text.cast::<PyString>()?.to_str()?.as_bytes());
            }
        }
    } else if value.is_instance_of::<PyFloat>() {
        let x = value.extract::<f64>()?;
        if !x.is_finite() {
            return Err(CoreError::validation(format!(
                "cannot send a non-finite number: {}",
                PyFloat::new(py, x).repr()?
            ))
            .into());
        }
        let text = PyFloat::new(py, x).repr()?;
        out.extend_from_slice(text.to_str()?.as_bytes());
    } else if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(d) = value.cast::<PyDict>() {
        if depth >= MAX_JSON_DEPTH {
            return Err(too_deep_request());
        }
        out.push(b'{');
        for (n, (k, v)) in dict_entries(d)?.into_iter().enumerate() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(CoreError::validation(format!(
                    "request keys must be str, got {}",
                    type_name(&k)
                ))
                .into());
            };
            if n > 0 {
                out.push(b',');
            }
            write_str(out, py_text(key)?);
            out.push(b':');
            write_value(out, &v, depth + 1)?;
        }
        out.push(b'}');
    } else if let Ok(l) = value.cast::<PyList>() {
        write_array(out, l.iter(), depth)?;
    } else if let Ok(t) = value.cast::<PyTuple>() {
        write_array(out, t.iter(), depth)?;
    } else if is_bytes_like(value) {
        let bytes = to_bytes(value)?;
        out.push(b'"');
        b64_encode_into(out, bytes.cast::<PyBytes>()?.as_bytes());
        out.push(b'"');
    } else {
        return Err(CoreError::validation(format!(
            "cannot send a value of type {} in a request",
            type_name(value)
        ))
        .into());
    }
    Ok(())
}

/// The JSON body DynamoDB expects for a boto3-style low-level request dict.
#[pyfunction]
pub fn encode_request<'py>(params: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if !params.is_instance_of::<PyDict>() {
        return Err(CoreError::validation(format!(
            "request params must be a dict, got {}",
            type_name(params)
        ))
        .into());
    }
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, params, 0)?;
    Ok(PyBytes::new(params.py(), &out))
}

// ------------------------------------------------------------------------------------------
// JSON documents

/// Where a string or number is: a byte range of the body, or of the document's unescaped
/// text. Offsets are `u32` (bodies are limited to 4 GiB), which keeps a `J` at 12 bytes.
#[derive(Clone, Copy)]
struct Span {
    at: u32,
    len: u32,
}

impl Span {
    fn of(at: usize, end: usize) -> Span {
        // Both are offsets into a body or the unescaped text, which is never longer than the
        // body, and `parse_document` refuses bodies longer than `u32::MAX`.
        Span {
            at: at as u32,
            len: (end - at) as u32,
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.at as usize..self.at as usize + self.len as usize
    }
}

/// A parsed JSON value, plain data without a lifetime or destructor: strings and numbers are
/// spans, containers are `(start, len)` ranges of their document's tapes, so a whole body is
/// a few vectors instead of one allocation per node (most objects are one-entry
/// AttributeValues). Read texts through `Doc::str`.
#[derive(Clone, Copy)]
enum J {
    Null,
    Bool(bool),
    Num(Span),
    /// A string without escapes: its span of the body.
    Str(Span),
    /// A string with escapes: its decoded text's span of `Doc::unescaped`.
    Esc(Span),
    Arr(u32, u32),
    Obj(u32, u32),
}

impl J {
    fn is_str(&self) -> bool {
        matches!(self, J::Str(_) | J::Esc(_))
    }
}

/// An object entry; the key is a `J::Str` or `J::Esc`.
#[derive(Clone, Copy)]
struct Entry {
    key: J,
    value: J,
}

/// A parsed body: the top value and the tapes its containers point into.
struct Doc<'a> {
    src: &'a str,
    /// The decoded text of every string with escapes, one after the other.
    unescaped: String,
    root: J,
    values: Vec<J>,
    entries: Vec<Entry>,
    /// Python strings made for object keys, direct-mapped by a hash of the key: the items of
    /// a page repeat the same few dozen attribute names, so they are made (and hashed by
    /// Python) once per body instead of once per item, as `json`'s key memo does.
    keys: RefCell<Vec<KeySlot>>,
}

/// A key (its `J` in the document) and the Python string made for it.
type KeySlot = Option<(J, Py<PyString>)>;

const KEY_SLOTS: usize = 128;

impl Doc<'_> {
    /// The Python string of an entry's key, shared with earlier entries of the same key.
    fn py_key<'py>(&self, py: Python<'py>, e: &Entry) -> Bound<'py, PyString> {
        let b = self.key(e);
        let mut h = b.len() as u64;
        for (k, &c) in b.iter().take(8).enumerate() {
            h ^= u64::from(c) << (8 * k);
        }
        let slot = (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize; // < KEY_SLOTS
        let mut keys = self.keys.borrow_mut();
        if keys.is_empty() {
            keys.resize_with(KEY_SLOTS, || None);
        }
        match keys.get_mut(slot) {
            Some(Some((k, s))) if self.bytes(k) == b => s.bind(py).clone(),
            Some(cached) => {
                let s = PyString::new(py, self.str(&e.key));
                *cached = Some((e.key, s.clone().unbind()));
                s
            }
            None => PyString::new(py, self.str(&e.key)),
        }
    }

    /// The entries of an object (empty for anything else).
    fn entries(&self, j: &J) -> &[Entry] {
        match *j {
            J::Obj(start, len) => self
                .entries
                .get(start as usize..start as usize + len as usize)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The values of an array (empty for anything else).
    fn items(&self, j: &J) -> &[J] {
        match *j {
            J::Arr(start, len) => self
                .values
                .get(start as usize..start as usize + len as usize)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The text of a string (empty for anything else).
    fn str(&self, j: &J) -> &str {
        match *j {
            J::Str(s) => self.src.get(s.range()),
            J::Esc(s) => self.unescaped.get(s.range()),
            _ => None,
        }
        .unwrap_or("")
    }

    /// The text of a number (empty for anything else).
    fn number(&self, j: &J) -> &str {
        match *j {
            J::Num(s) => self.src.get(s.range()),
            _ => None,
        }
        .unwrap_or("")
    }

    /// The bytes of a string (empty for anything else): cheaper than `str` (no UTF-8
    /// boundary checks), for comparisons.
    fn bytes(&self, j: &J) -> &[u8] {
        match *j {
            J::Str(s) => self.src.as_bytes().get(s.range()),
            J::Esc(s) => self.unescaped.as_bytes().get(s.range()),
            _ => None,
        }
        .unwrap_or(b"")
    }

    /// An entry's key, as bytes (see `bytes`).
    fn key(&self, e: &Entry) -> &[u8] {
        self.bytes(&e.key)
    }

    /// Whether entry `i` of an object is overridden by a later entry with the same key (JSON
    /// readers keep the last one; only looked at when entry `i` fails, so it costs nothing on
    /// well-formed bodies).
    fn superseded(&self, entries: &[Entry], i: usize) -> bool {
        let Some((e, later)) = entries.get(i..).and_then(|s| s.split_first()) else {
            return false;
        };
        let key = self.key(e);
        later.iter().any(|x| self.key(x) == key)
    }

    /// The value the last entry with key `name` of an object holds.
    fn member(&self, j: &J, name: &str) -> Option<&J> {
        self.entries(j)
            .iter()
            .rev()
            .find(|e| self.key(e) == name.as_bytes())
            .map(|e| &e.value)
    }
}

/// Parser errors are boxed: results are moved at every level, so they stay small.
type PResult<T> = Result<T, Box<CoreError>>;

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    unescaped: String,
    /// Entries of the containers being parsed, as a stack: each container collects its own
    /// above the mark it took and moves them to the tape at its end, contiguous there.
    value_stack: Vec<J>,
    entry_stack: Vec<Entry>,
    values: Vec<J>,
    entries: Vec<Entry>,
}

/// The index of the first byte at or after `i` that ends a run of plain string content — `"`,
/// `\\` or a control character (< 0x20) — or `b.len()`. Eight bytes per step (SWAR): for each
/// kind, `(x - 0x01…) & !x & 0x80…` flags the bytes that are zero in `x` (the lowest flag is
/// exact; borrows only run upwards from it), and `v - 0x20…` does the same for bytes below
/// 0x20 (bytes from 0x80 up have their top bit set in `v`, so `!v` clears them).
#[inline(always)]
fn special_byte(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let flags = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | v.wrapping_sub(ONES * 0x20) & !v)
            & TOPS;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

impl<'a> Parser<'a> {
    // Out of line: the formatting would otherwise crowd the hot paths that can fail.
    #[cold]
    #[inline(never)]
    fn err(&self, what: &str) -> Box<CoreError> {
        Box::new(bad(format!("body is not JSON ({what} at byte {})", self.i)))
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// A value where strings, most of a body's values, are read inline (no recursive call).
    #[inline(always)]
    fn member(&mut self, depth: usize) -> PResult<J> {
        if self.b.get(self.i) == Some(&b'"') {
            self.string()
        } else {
            self.value(depth)
        }
    }

    fn value(&mut self, depth: usize) -> PResult<J> {
        match self.b.get(self.i) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(),
            Some(b't') => self.literal("true", J::Bool(true)),
            Some(b'f') => self.literal("false", J::Bool(false)),
            Some(b'n') => self.literal("null", J::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn literal(&mut self, word: &str, value: J) -> PResult<J> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, as Python's `json` reads numbers.
    fn number(&mut self) -> PResult<J> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.b.get(self.i) == Some(&b'.') {
            let dot = self.i;
            self.i += 1;
            if self.digits() == 0 {
                // `1.` is the number 1 followed by a stray `.`.
                self.i = dot;
                return Ok(J::Num(Span::of(start, self.i)));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            let e = self.i;
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = e;
            }
        }
        Ok(J::Num(Span::of(start, self.i)))
    }

    fn hex4(&mut self) -> PResult<u32> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("invalid \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    /// A string at `self.i` (its opening quote): `J::Str` when it has no escapes, else its
    /// decoded text is appended to `unescaped` and it is a `J::Esc`.
    #[inline(always)]
    fn string(&mut self) -> PResult<J> {
        let start = self.i + 1;
        self.i = special_byte(self.b, start);
        if self.b.get(self.i) == Some(&b'"') {
            self.i += 1;
            return Ok(J::Str(Span::of(start, self.i - 1)));
        }
        self.string_rest(start)
    }

    /// The rest of a string starting at `start` that is not one plain run (`self.i` is where
    /// the run ends): escapes, or an error.
    #[inline(never)]
    fn string_rest(&mut self, start: usize) -> PResult<J> {
        match self.b.get(self.i) {
            Some(b'\\') => {}
            Some(_) => return Err(self.err("control character in string")),
            None => return Err(self.err("unterminated string")),
        }
        let at = self.unescaped.len();
        let mut run = start;
        loop {
            self.i = special_byte(self.b, run);
            let s = &mut self.unescaped;
            s.push_str(self.src.get(run..self.i).unwrap_or(""));
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(J::Esc(Span::of(at, self.unescaped.len())));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.b.get(self.i).copied();
                    self.i += 1;
                    match c {
                        Some(b'"') => s.push('"'),
                        Some(b'\\') => s.push('\\'),
                        Some(b'/') => s.push('/'),
                        Some(b'b') => s.push('\u{8}'),
                        Some(b'f') => s.push('\u{c}'),
                        Some(b'n') => s.push('\n'),
                        Some(b'r') => s.push('\r'),
                        Some(b't') => s.push('\t'),
                        Some(b'u') => {
                            let ch = self.unicode_escape()?;
                            self.unescaped.push(ch);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
            run = self.i;
        }
    }

    /// The character of a `\u` escape (after the `u`), a surrogate pair taken together.
    fn unicode_escape(&mut self) -> PResult<char> {
        let hi = self.hex4()?;
        let code =
            if (0xD800..0xDC00).contains(&hi) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                let back = self.i;
                self.i += 2;
                let lo = self.hex4()?;
                if (0xDC00..0xE000).contains(&lo) {
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    self.i = back;
                    hi
                }
            } else {
                hi
            };
        char::from_u32(code).ok_or_else(|| Box::new(bad("text contains a lone surrogate")))
    }

    fn enter(&self, depth: usize) -> PResult<()> {
        if depth > MAX_JSON_DEPTH {
            return Err(Box::new(bad(format!(
                "document is nested deeper than {MAX_JSON_DEPTH} levels"
            ))));
        }
        Ok(())
    }

    /// The tape range of a container's entries: `(start, len)` (counts fit in `u32`: each
    /// takes at least one byte of a body `parse_document` limits to `u32::MAX` bytes).
    fn range(start: usize, end: usize) -> (u32, u32) {
        (start as u32, (end - start) as u32)
    }

    fn array(&mut self, depth: usize) -> PResult<J> {
        self.enter(depth)?;
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(J::Arr(0, 0));
        }
        let mark = self.value_stack.len();
        loop {
            self.ws();
            let value = self.member(depth + 1)?;
            self.value_stack.push(value);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    let start = self.values.len();
                    self.values
                        .extend_from_slice(self.value_stack.get(mark..).unwrap_or(&[]));
                    self.value_stack.truncate(mark);
                    let (start, len) = Self::range(start, self.values.len());
                    return Ok(J::Arr(start, len));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    #[inline(always)]
    fn entry(&mut self, depth: usize) -> PResult<Entry> {
        self.ws();
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.err("expected a string key"));
        }
        let key = self.string()?;
        self.ws();
        if self.b.get(self.i) != Some(&b':') {
            return Err(self.err("expected ':'"));
        }
        self.i += 1;
        self.ws();
        let value = self.member(depth + 1)?;
        self.ws();
        Ok(Entry { key, value })
    }

    fn object(&mut self, depth: usize) -> PResult<J> {
        self.enter(depth)?;
        self.i += 1;
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(J::Obj(0, 0));
        }
        // Most objects are one-entry AttributeValues: the first entry goes straight to the
        // tape when it is the only one (its value's own entries are already there).
        let first = self.entry(depth)?;
        match self.b.get(self.i) {
            Some(b',') => self.i += 1,
            Some(b'}') => {
                self.i += 1;
                self.entries.push(first);
                let (start, len) = Self::range(self.entries.len() - 1, self.entries.len());
                return Ok(J::Obj(start, len));
            }
            _ => return Err(self.err("expected ',' or '}'")),
        }
        let mark = self.entry_stack.len();
        self.entry_stack.push(first);
        loop {
            let entry = self.entry(depth)?;
            self.entry_stack.push(entry);
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    let start = self.entries.len();
                    self.entries
                        .extend_from_slice(self.entry_stack.get(mark..).unwrap_or(&[]));
                    self.entry_stack.truncate(mark);
                    let (start, len) = Self::range(start, self.entries.len());
                    return Ok(J::Obj(start, len));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }
}

fn parse_document(body: &[u8]) -> CoreResult<Doc<'_>> {
    if u32::try_from(body.len()).is_err() {
        return Err(bad("body is too large"));
    }
    let src = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
    let mut p = Parser {
        src,
        b: body,
        i: 0,
        unescaped: String::new(),
        value_stack: Vec::new(),
        entry_stack: Vec::new(),
        values: Vec::new(),
        entries: Vec::with_capacity(body.len() / 16),
    };
    p.ws();
    let root = p.value(1).map_err(|e| *e)?;
    p.ws();
    if p.i != body.len() {
        return Err(*p.err("extra data"));
    }
    Ok(Doc {
        src,
        unescaped: p.unescaped,
        root,
        values: p.values,
        entries: p.entries,
        keys: RefCell::new(Vec::new()),
    })
}

// ------------------------------------------------------------------------------------------
// Responses: AttributeValues

#[inline]
fn tag_of(name: &[u8]) -> Option<Tag> {
    // By length first: a slice pattern match compares the bytes without a `memcmp` call.
    Some(match *name {
        [b'S'] => Tag::S,
        [b'N'] => Tag::N,
        [b'B'] => Tag::B,
        [b'M'] => Tag::M,
        [b'L'] => Tag::L,
        [b'S', b'S'] => Tag::Ss,
        [b'N', b'S'] => Tag::Ns,
        [b'B', b'S'] => Tag::Bs,
        [b'B', b'O', b'O', b'L'] => Tag::Bool,
        [b'N', b'U', b'L', b'L'] => Tag::Null,
        _ => return None,
    })
}

fn describe(j: &J) -> &'static str {
    match j {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Num(_) => "a number",
        J::Str(_) | J::Esc(_) => "a string",
        J::Arr(..) => "an array",
        J::Obj(..) => "an object",
    }
}

/// The `(tag, value)` of an AttributeValue object: one key (repeated keys: the last wins).
#[inline]
fn av_entry<'d>(d: &'d Doc<'_>, j: &J) -> CoreResult<(Tag, &'d J)> {
    // The usual case, inline: one entry with a known tag.
    if let J::Obj(start, 1) = *j {
        if let Some(e) = d.entries.get(start as usize) {
            if let Some(tag) = tag_of(d.key(e)) {
                return Ok((tag, &e.value));
            }
        }
    }
    av_entry_slow(d, j)
}

#[inline(never)]
fn av_entry_slow<'d>(d: &'d Doc<'_>, j: &J) -> CoreResult<(Tag, &'d J)> {
    if !matches!(j, J::Obj(..)) {
        return Err(bad(format!("not an AttributeValue: {}", describe(j))));
    }
    let entries = d.entries(j);
    let Some(last) = entries.last() else {
        return Err(bad("not an AttributeValue: {}"));
    };
    let key = d.str(&last.key);
    if entries.len() > 1 && entries.iter().any(|e| d.key(e) != key.as_bytes()) {
        return Err(bad("an AttributeValue must have exactly one type"));
    }
    let tag = tag_of(key.as_bytes())
        .ok_or_else(|| bad(format!("unknown AttributeValue type {key:?}")))?;
    Ok((tag, &last.value))
}

fn too_deep_value() -> CoreError {
    bad(format!("value is nested deeper than {MAX_DEPTH} levels"))
}

fn all_strings(items: &[J]) -> bool {
    items.iter().all(J::is_str)
}

/// Checks an AttributeValue as the pure core's reader does, without making any object; its
/// `(tag, value)` when it is valid.
fn check_av<'d>(d: &'d Doc<'_>, j: &J, depth: usize) -> CoreResult<(Tag, &'d J)> {
    let (tag, v) = av_entry(d, j)?;
    match (tag, v) {
        (Tag::S | Tag::N, J::Str(_) | J::Esc(_)) => Ok(()),
        (Tag::M, J::Obj(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value());
            }
            let entries = d.entries(v);
            for (i, e) in entries.iter().enumerate() {
                if let Err(e) = check_av(d, &e.value, depth + 1) {
                    if !d.superseded(entries, i) {
                        return Err(e);
                    }
                }
            }
            Ok(())
        }
        (Tag::L, J::Arr(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value());
            }
            d.items(v)
                .iter()
                .try_for_each(|x| check_av(d, x, depth + 1).map(|_| ()))
        }
        (Tag::Bool | Tag::Null, J::Bool(_)) => Ok(()),
        (Tag::B, J::Str(_) | J::Esc(_)) => b64_check(d.str(v)),
        (Tag::Ss | Tag::Ns, J::Arr(..)) if all_strings(d.items(v)) => Ok(()),
        (Tag::Bs, J::Arr(..)) => d.items(v).iter().try_for_each(|x| match x {
            J::Str(_) | J::Esc(_) => b64_check(d.str(x)),
            _ => Err(bad("BS value must be an array of strings")),
        }),
        (tag, _) => Err(bad(format!("{} value has the wrong JSON type", tag.name()))),
    }
    .map(|()| (tag, v))
}

fn py_str<'py>(py: Python<'py>, s: &str) -> Bound<'py, PyAny> {
    PyString::new(py, s).into_any()
}

fn py_blob<'py>(py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
    match j {
        J::Str(_) | J::Esc(_) => Ok(PyBytes::new(py, &b64_decode(d.str(j))?).into_any()),
        _ => Err(bad("a blob must be a string").into()),
    }
}

fn tag_key<'py>(py: Python<'py>, tag: Tag) -> &'py Bound<'py, PyString> {
    match tag {
        Tag::S => intern!(py, "S"),
        Tag::N => intern!(py, "N"),
        Tag::B => intern!(py, "B"),
        Tag::Bool => intern!(py, "BOOL"),
        Tag::Null => intern!(py, "NULL"),
        Tag::M => intern!(py, "M"),
        Tag::L => intern!(py, "L"),
        Tag::Ss => intern!(py, "SS"),
        Tag::Ns => intern!(py, "NS"),
        Tag::Bs => intern!(py, "BS"),
        Tag::Unknown => intern!(py, "?"),
    }
}

/// An object's entries as a dict, each value made by `f`; a failing entry that a later one
/// overrides is skipped, as the last entry is the one JSON readers keep.
fn object_dict<'py>(
    py: Python<'py>,
    d: &Doc<'_>,
    j: &J,
    mut f: impl FnMut(&J) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let entries = d.entries(j);
    let out = PyDict::new(py);
    for (i, e) in entries.iter().enumerate() {
        match f(&e.value) {
            Ok(x) => dict_set(&out, d.py_key(py, e).as_any(), &x)?,
            Err(e) if d.superseded(entries, i) => drop(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// An AttributeValue as botocore returns it (`B`/`BS` decoded to bytes, `N` as text).
fn av_dict<'py>(py: Python<'py>, d: &Doc<'_>, j: &J, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let (tag, v) = av_entry(d, j)?;
    let value: Bound<'py, PyAny> = match (tag, v) {
        (Tag::S | Tag::N, J::Str(_) | J::Esc(_)) => py_str(py, d.str(v)),
        (Tag::M, J::Obj(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value().into());
            }
            object_dict(py, d, v, |x| av_dict(py, d, x, depth + 1))?.into_any()
        }
        (Tag::L, J::Arr(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value().into());
            }
            let items = d.items(v);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(av_dict(py, d, x, depth + 1)?);
            }
            PyList::new(py, out)?.into_any()
        }
        (Tag::Bool | Tag::Null, J::Bool(b)) => PyBool::new(py, *b).to_owned().into_any(),
        (Tag::B, J::Str(_) | J::Esc(_)) => py_blob(py, d, v)?,
        (Tag::Ss | Tag::Ns, J::Arr(..)) if all_strings(d.items(v)) => {
            let strs: Vec<Bound<'py, PyAny>> =
                d.items(v).iter().map(|x| py_str(py, d.str(x))).collect();
            PyList::new(py, strs)?.into_any()
        }
        (Tag::Bs, J::Arr(..)) => {
            let items = d.items(v);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(py_blob(py, d, x)?);
            }
            PyList::new(py, out)?.into_any()
        }
        (tag, _) => return Err(bad(format!("{} value has the wrong JSON type", tag.name())).into()),
    };
    let d = PyDict::new(py);
    dict_set(&d, tag_key(py, tag).as_any(), &value)?;
    Ok(d.into_any())
}

fn attr_map<'py>(py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
    match j {
        J::Obj(..) => Ok(object_dict(py, d, j, |x| av_dict(py, d, x, 0))?.into_any()),
        _ => Err(bad("an item must be an object").into()),
    }
}

fn items_list<'py>(py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
    match j {
        J::Arr(..) => {
            let items = d.items(j);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(attr_map(py, d, x)?);
            }
            Ok(PyList::new(py, out)?.into_any())
        }
        _ => Err(bad("a list of items must be an array").into()),
    }
}

// ------------------------------------------------------------------------------------------
// Responses: straight to model values

fn number_text_of(t: &str) -> PyResult<&str> {
    if is_number_text(t) {
        Ok(t)
    } else {
        Err(CoreError::validation(format!("invalid number text {t:?}")).into())
    }
}

/// `N` text as int (integer literal) or float, as `from_attribute_value` reads it.
fn n_value<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyAny>> {
    let t = number_text_of(t)?;
    if is_int_literal(t) {
        int_from_text(py, t)
    } else {
        float_from_text(py, t)
    }
}

/// The Python value of an AttributeValue already checked by `check_av`, as
/// `from_attribute_value` gives it.
fn av_value<'py>(
    py: Python<'py>,
    d: &Doc<'_>,
    tag: Tag,
    v: &J,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(match (tag, v) {
        (Tag::S, J::Str(_) | J::Esc(_)) => py_str(py, d.str(v)),
        (Tag::N, J::Str(_) | J::Esc(_)) => n_value(py, d.str(v))?,
        (Tag::Bool, J::Bool(b)) => PyBool::new(py, *b).to_owned().into_any(),
        (Tag::Null, _) => py.None().into_bound(py),
        (Tag::M, J::Obj(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value().into());
            }
            object_dict(py, d, v, |x| {
                let (t, y) = av_entry(d, x)?;
                av_value(py, d, t, y, depth + 1)
            })?
            .into_any()
        }
        (Tag::L, J::Arr(..)) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep_value().into());
            }
            let items = d.items(v);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                let (t, y) = av_entry(d, x)?;
                out.push(av_value(py, d, t, y, depth + 1)?);
            }
            PyList::new(py, out)?.into_any()
        }
        (Tag::B, _) => py_blob(py, d, v)?,
        (Tag::Ss, J::Arr(..)) => {
            PySet::new(py, d.items(v).iter().map(|x| py_str(py, d.str(x))))?.into_any()
        }
        (Tag::Ns, J::Arr(..)) => {
            let items = d.items(v);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(n_value(py, d.str(x))?);
            }
            PySet::new(py, out)?.into_any()
        }
        (Tag::Bs, J::Arr(..)) => {
            let items = d.items(v);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(py_blob(py, d, x)?);
            }
            PySet::new(py, out)?.into_any()
        }
        (tag, _) => return Err(bad(format!("{} value has the wrong JSON type", tag.name())).into()),
    })
}

impl Schema {
    /// One field's value from its stored AttributeValue: `Schema.from_item`'s rules.
    fn field_from_json<'py>(
        &self,
        py: Python<'py>,
        d: &Doc<'_>,
        kind: FieldKind,
        j: &J,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (tag, v) = check_av(d, j, 0)?;
        if tag == Tag::Null {
            return Ok(py.None().into_bound(py));
        }
        // `check_av` made sure `S` and `N` hold strings.
        let s = d.str(v);
        match (kind, tag, v) {
            (FieldKind::String, Tag::S, _) => return Ok(py_str(py, s)),
            (FieldKind::Integer, Tag::N, _) => {
                let t = number_text_of(s)?;
                if is_int_literal(t) {
                    return int_from_text(py, t);
                }
                return Err(CoreError::validation(format!(
                    "stored number {t:?} is not an integer"
                ))
                .into());
            }
            (FieldKind::Float, Tag::N, _) => return float_from_text(py, number_text_of(s)?),
            (FieldKind::Decimal, Tag::N, _) => return decimal_from_text(py, number_text_of(s)?),
            (FieldKind::Boolean, Tag::Bool, J::Bool(b)) => {
                return Ok(PyBool::new(py, *b).to_owned().into_any())
            }
            (FieldKind::Datetime | FieldKind::Ttl, Tag::N, _) => {
                return stored_timestamp(py, kind, number_text_of(s)?);
            }
            (FieldKind::Binary, Tag::B, _) => return py_blob(py, d, v),
            (FieldKind::StringSet, Tag::Ss, _)
            | (FieldKind::Map, Tag::M, _)
            | (FieldKind::List, Tag::L, _)
            | (FieldKind::Any, _, _) => return av_value(py, d, tag, v, 0),
            _ => {}
        }
        Err(misfit(tag, kind))
    }

    /// `from_item` of an item given as a JSON object.
    fn values_from_json<'py, 'd>(
        &self,
        py: Python<'py>,
        d: &'d Doc<'_>,
        j: &J,
        scratch: &mut Scratch<'py, 'd>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !matches!(j, J::Obj(..)) {
            return Err(bad("an item must be an object").into());
        }
        let entries = d.entries(j);
        let slots = &mut scratch.slots;
        slots.clear();
        slots.resize(self.fields.len(), None);
        let mut next = 0;
        for (n, e) in entries.iter().enumerate() {
            let v = &e.value;
            let name = d.key(e);
            let found = match scratch.seen.get(n) {
                Some(&(seen, i)) if seen == name => {
                    next = i.map_or(next, |i| i + 1);
                    i
                }
                _ => {
                    let i = self.field_index(name, &mut next);
                    scratch.seen.truncate(n);
                    scratch.seen.push((name, i));
                    i
                }
            };
            let result = match found {
                Some(i) => self
                    .field_from_json(py, d, self.fields[i].kind, v)
                    .map(|x| {
                        if let Some(slot) = slots.get_mut(i) {
                            *slot = Some(x);
                        }
                    }),
                // Attributes that are not fields (keys) are checked, not converted.
                None => check_av(d, v, 0).map(|_| ()).map_err(PyErr::from),
            };
            if let Err(e) = result {
                if !d.superseded(entries, n) {
                    return Err(match found {
                        Some(i) => self.misfit_of_json(py, d, j, i, v, e),
                        None => e,
                    });
                }
            }
        }
        let out = copy_dict(py, &self.values_template)?;
        for (f, slot) in self.fields.iter().zip(slots.iter_mut()) {
            let name = f.name.bind(py).as_any();
            match slot.take() {
                Some(x) => dict_set(&out, name, &x)?,
                None => dict_del(&out, name)?,
            }
        }
        Ok(out.into_any())
    }
}

impl Schema {
    /// [`Schema::misfit_error`] of field `i`'s AttributeValue `v` in the item object `item`
    /// (the cold path: the keys are looked up only now, wherever they are in the item).
    #[cold]
    fn misfit_of_json(
        &self,
        py: Python<'_>,
        d: &Doc<'_>,
        item: &J,
        i: usize,
        v: &J,
        err: PyErr,
    ) -> PyErr {
        let s_text = |name: &str| match d.member(item, name).map(|k| av_entry(d, k)) {
            Some(Ok((Tag::S, t))) if t.is_str() => Some(d.str(t)),
            _ => None,
        };
        let primary_id = match (s_text("_pk"), s_text("_sk")) {
            (Some(pk), Some(sk)) => self.id_of_keys(pk, sk),
            _ => None,
        };
        let stored = match av_entry(d, v) {
            Err(_) => Stored::Malformed,
            Ok((tag, x)) => match (tag, x) {
                (Tag::S | Tag::N, J::Str(_) | J::Esc(_)) => Stored::Text(tag, d.str(x)),
                (Tag::Bool, J::Bool(b)) => Stored::Bool(*b),
                (Tag::Null, J::Bool(_))
                | (Tag::B, J::Str(_) | J::Esc(_))
                | (Tag::M, J::Obj(..))
                | (Tag::L | Tag::Ss | Tag::Ns | Tag::Bs, J::Arr(..)) => Stored::Other(tag),
                _ => Stored::Malformed,
            },
        };
        self.misfit_error(py, i, primary_id, stored, err)
    }
}

/// What reading a page's items reuses from item to item: the slots of the field values, and
/// the field each attribute position was found to be (`None`: not a field), by name. The
/// items of a page mostly list the same attributes in the same order, so the name at the
/// same position usually matches and costs one comparison instead of a search.
#[derive(Default)]
struct Scratch<'py, 'd> {
    slots: Vec<Option<Bound<'py, PyAny>>>,
    seen: Vec<(&'d [u8], Option<usize>)>,
}

impl Schema {
    /// The field called `name`. Items mostly list attributes in field order, so the search
    /// starts after the previous match (`next`) and wraps around.
    fn field_index(&self, name: &[u8], next: &mut usize) -> Option<usize> {
        let n = self.fields.len();
        let start = (*next).min(n);
        let found = (start..n)
            .chain(0..start)
            .find(|&i| self.fields[i].name_text.as_bytes() == name)?;
        *next = found + 1;
        Some(found)
    }
}

/// How items are read: as AttributeValue dicts, through a native `Schema` in one pass, or
/// through any other object's `from_item`/`from_items` (the pure core's `Schema`).
enum Items<'s, 'py> {
    Raw,
    Native(&'s Schema),
    Other(&'s Bound<'py, PyAny>),
}

impl<'py> Items<'_, 'py> {
    fn item(&self, py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Items::Raw => attr_map(py, d, j),
            Items::Native(s) => s.values_from_json(py, d, j, &mut Scratch::default()),
            Items::Other(s) => s.call_method1(intern!(py, "from_item"), (attr_map(py, d, j)?,)),
        }
    }

    fn page(&self, py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Items::Raw => items_list(py, d, j),
            Items::Native(s) => {
                if !matches!(j, J::Arr(..)) {
                    return Err(bad("a list of items must be an array").into());
                }
                let items = d.items(j);
                let mut out = Vec::with_capacity(items.len());
                let mut scratch = Scratch::default();
                for x in items {
                    out.push(s.values_from_json(py, d, x, &mut scratch)?);
                }
                Ok(PyList::new(py, out)?.into_any())
            }
            Items::Other(s) => s.call_method1(intern!(py, "from_items"), (items_list(py, d, j)?,)),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Responses: the output shapes

/// A JSON number as Python's `json` reads it: int for integer text, else float.
fn py_number<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyAny>> {
    if t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E')) {
        let x: f64 = t.parse().map_err(|_| bad(format!("invalid number {t}")))?;
        return Ok(PyFloat::new(py, x).into_any());
    }
    int_from_text(py, t).map_err(|_| bad(format!("number {t} is too long")).into())
}

fn scalar<'py>(py: Python<'py>, d: &Doc<'_>, j: &J) -> PyResult<Bound<'py, PyAny>> {
    Ok(match j {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        J::Num(_) => py_number(py, d.number(j))?,
        J::Str(_) | J::Esc(_) => py_str(py, d.str(j)),
        J::Arr(..) | J::Obj(..) => return Err(bad("expected a string, number or boolean").into()),
    })
}

/// A shape of the output members: how a JSON value becomes what botocore returns.
#[derive(Clone, Copy)]
enum Shape {
    Scalar,
    AttrMap,
    Items,
    ListOf(&'static Shape),
    MapOf(&'static Shape),
    Struct(&'static [(&'static str, Shape)]),
}

static CAPACITY: [(&str, Shape); 3] = [
    ("ReadCapacityUnits", Shape::Scalar),
    ("WriteCapacityUnits", Shape::Scalar),
    ("CapacityUnits", Shape::Scalar),
];
static CAPACITY_SHAPE: Shape = Shape::Struct(&CAPACITY);
static CONSUMED_CAPACITY: [(&str, Shape); 7] = [
    ("TableName", Shape::Scalar),
    ("CapacityUnits", Shape::Scalar),
    ("ReadCapacityUnits", Shape::Scalar),
    ("WriteCapacityUnits", Shape::Scalar),
    ("Table", Shape::Struct(&CAPACITY)),
    ("LocalSecondaryIndexes", Shape::MapOf(&CAPACITY_SHAPE)),
    ("GlobalSecondaryIndexes", Shape::MapOf(&CAPACITY_SHAPE)),
];
static CONSUMED_CAPACITY_SHAPE: Shape = Shape::Struct(&CONSUMED_CAPACITY);
static SCALAR: Shape = Shape::Scalar;
static ITEM_COLLECTION_METRICS: [(&str, Shape); 2] = [
    ("ItemCollectionKey", Shape::AttrMap),
    ("SizeEstimateRangeGB", Shape::ListOf(&SCALAR)),
];
static ITEM_COLLECTION_METRICS_SHAPE: Shape = Shape::Struct(&ITEM_COLLECTION_METRICS);
static ITEM_COLLECTION_METRICS_LIST: Shape = Shape::ListOf(&ITEM_COLLECTION_METRICS_SHAPE);
static KEYS_AND_ATTRIBUTES: [(&str, Shape); 5] = [
    ("Keys", Shape::Items),
    ("AttributesToGet", Shape::ListOf(&SCALAR)),
    ("ConsistentRead", Shape::Scalar),
    ("ProjectionExpression", Shape::Scalar),
    ("ExpressionAttributeNames", Shape::MapOf(&SCALAR)),
];
static KEYS_AND_ATTRIBUTES_SHAPE: Shape = Shape::Struct(&KEYS_AND_ATTRIBUTES);
static PUT_REQUEST: [(&str, Shape); 1] = [("Item", Shape::AttrMap)];
static DELETE_REQUEST: [(&str, Shape); 1] = [("Key", Shape::AttrMap)];
static WRITE_REQUEST: [(&str, Shape); 2] = [
    ("PutRequest", Shape::Struct(&PUT_REQUEST)),
    ("DeleteRequest", Shape::Struct(&DELETE_REQUEST)),
];
static WRITE_REQUEST_SHAPE: Shape = Shape::Struct(&WRITE_REQUEST);
static WRITE_REQUEST_LIST: Shape = Shape::ListOf(&WRITE_REQUEST_SHAPE);

/// A struct's known members; unknown ones are left out and a `null` member is absent, as in
/// botocore (with repeated keys, the last one counts).
fn read_struct<'py>(
    py: Python<'py>,
    d: &Doc<'_>,
    j: &J,
    members: &[(&str, Shape)],
    mut read: impl FnMut(&str, &Shape, &J) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<Bound<'py, PyDict>> {
    if !matches!(j, J::Obj(..)) {
        return Err(bad(format!("expected an object, got {}", describe(j))).into());
    }
    let entries = d.entries(j);
    let out = PyDict::new(py);
    for (i, e) in entries.iter().enumerate() {
        let (k, v) = (d.key(e), &e.value);
        let Some((name, shape)) = members.iter().find(|(m, _)| m.as_bytes() == k) else {
            continue;
        };
        let key = py_str(py, name);
        if let J::Null = v {
            if out.contains(&key)? {
                dict_del(&out, &key)?;
            }
            continue;
        }
        match read(name, shape, v) {
            Ok(Some(x)) => dict_set(&out, &key, &x)?,
            Ok(None) => {}
            Err(e) if d.superseded(entries, i) => drop(e),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn read_shape<'py>(
    py: Python<'py>,
    d: &Doc<'_>,
    shape: &Shape,
    j: &J,
) -> PyResult<Bound<'py, PyAny>> {
    match shape {
        Shape::Scalar => scalar(py, d, j),
        Shape::AttrMap => attr_map(py, d, j),
        Shape::Items => items_list(py, d, j),
        Shape::ListOf(member) => {
            if !matches!(j, J::Arr(..)) {
                return Err(bad(format!("expected an array, got {}", describe(j))).into());
            }
            let items = d.items(j);
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(read_shape(py, d, member, x)?);
            }
            Ok(PyList::new(py, out)?.into_any())
        }
        Shape::MapOf(member) => {
            if !matches!(j, J::Obj(..)) {
                return Err(bad(format!("expected an object, got {}", describe(j))).into());
            }
            Ok(object_dict(py, d, j, |x| read_shape(py, d, member, x))?.into_any())
        }
        Shape::Struct(members) => Ok(read_struct(py, d, j, members, |_, shape, v| {
            read_shape(py, d, shape, v).map(Some)
        })?
        .into_any()),
    }
}

fn top_member<'py>(
    py: Python<'py>,
    d: &Doc<'_>,
    name: &str,
    v: &J,
    items: &Items<'_, 'py>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(Some(match name {
        "Item" => items.item(py, d, v)?,
        "Items" => items.page(py, d, v)?,
        "Count" | "ScannedCount" => match v {
            J::Num(_) if is_int_literal(d.number(v)) => scalar(py, d, v)?,
            _ => return Err(bad(format!("{name} must be an integer")).into()),
        },
        "LastEvaluatedKey" | "Attributes" => attr_map(py, d, v)?,
        "ConsumedCapacity" => match v {
            J::Arr(..) => read_shape(py, d, &Shape::ListOf(&CONSUMED_CAPACITY_SHAPE), v)?,
            _ => read_shape(py, d, &CONSUMED_CAPACITY_SHAPE, v)?,
        },
        "ItemCollectionMetrics" => {
            let single = matches!(d.member(v, "ItemCollectionKey"), Some(J::Obj(..)));
            if single {
                read_shape(py, d, &ITEM_COLLECTION_METRICS_SHAPE, v)?
            } else {
                read_shape(py, d, &Shape::MapOf(&ITEM_COLLECTION_METRICS_LIST), v)?
            }
        }
        "Responses" => match v {
            // BatchGetItem: table -> items.
            J::Obj(..) => object_dict(py, d, v, |x| items.page(py, d, x))?.into_any(),
            // TransactGetItems: [{"Item": ...}].
            J::Arr(..) => {
                let entries = d.items(v);
                let mut out = Vec::with_capacity(entries.len());
                for e in entries {
                    let response = read_struct(py, d, e, &PUT_REQUEST, |_, _, x| {
                        items.item(py, d, x).map(Some)
                    })?;
                    out.push(response.into_any());
                }
                PyList::new(py, out)?.into_any()
            }
            _ => return Err(bad("Responses must be an object or an array").into()),
        },
        "UnprocessedKeys" => read_shape(py, d, &Shape::MapOf(&KEYS_AND_ATTRIBUTES_SHAPE), v)?,
        "UnprocessedItems" => read_shape(py, d, &Shape::MapOf(&WRITE_REQUEST_LIST), v)?,
        _ => return Ok(None),
    }))
}

/// The output members read at the top (their shapes are `top_member`'s, by name).
static TOP_MEMBERS: [(&str, Shape); 11] = [
    ("Item", Shape::Scalar),
    ("Items", Shape::Scalar),
    ("Count", Shape::Scalar),
    ("ScannedCount", Shape::Scalar),
    ("LastEvaluatedKey", Shape::Scalar),
    ("Attributes", Shape::Scalar),
    ("ConsumedCapacity", Shape::Scalar),
    ("ItemCollectionMetrics", Shape::Scalar),
    ("Responses", Shape::Scalar),
    ("UnprocessedKeys", Shape::Scalar),
    ("UnprocessedItems", Shape::Scalar),
];

fn body_bytes<'py>(body: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = body.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    if body.is_instance_of::<PyByteArray>() || body.is_instance_of::<PyMemoryView>() {
        return Ok(to_bytes(body)?.cast_into::<PyBytes>()?);
    }
    Err(CoreError::validation(format!(
        "response body must be bytes, got {}",
        type_name(body)
    ))
    .into())
}

/// A DynamoDB JSON response body as botocore's parser returns it; with `schema`, items become
/// model value dicts in the same pass.
#[pyfunction]
#[pyo3(signature = (body, schema = None))]
pub fn decode_response<'py>(
    body: &Bound<'py, PyAny>,
    schema: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = body.py();
    let bytes = body_bytes(body)?;
    let raw = bytes.as_bytes();
    if raw.is_empty() {
        return Ok(PyDict::new(py)); // botocore reads an empty body as {}
    }
    let doc = if raw.len() >= DETACH_AT {
        py.detach(|| parse_document(raw))?
    } else {
        parse_document(raw)?
    };
    let native = schema
        .and_then(|s| s.cast::<Schema>().ok())
        .map(|s| s.get());
    let items = match (schema.filter(|s| !s.is_none()), native) {
        (None, _) => Items::Raw,
        (Some(_), Some(s)) => Items::Native(s),
        (Some(s), None) => Items::Other(s),
    };
    if !matches!(doc.root, J::Obj(..)) {
        return Err(bad("body must be a JSON object").into());
    }
    read_struct(py, &doc, &doc.root, &TOP_MEMBERS, |name, _, v| {
        top_member(py, &doc, name, v, &items)
    })
}
