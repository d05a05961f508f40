//! The sortable index encodings of DESIGN §6.5 (`encode_index_value`).
//!
//! The layouts are documented in `dynamo_bao.core._pure`; in short: non-negative integers
//! below 10^20 are zero-padded to 20 digits (as DynamoBao), larger ones `:NN<digits>`,
//! negatives `-<20-digit complement>` or `,NN<nines' complement>`; floats `1EEE.<digits>` /
//! `-EEE.<complement>~` / `0`; dates are epoch-ms integers; booleans `1`/`0`.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

use crate::errors::{CoreError, CoreResult};
use crate::keys::key_value;
use crate::number::{datetime_ms, number_or_err, parts_of, Num};
use crate::py_types::type_name;

// ------------------------------------------------------------------------------------------
// Index encodings

fn nines(digits: &str) -> String {
    digits.bytes().map(|b| (b'9' + b'0' - b) as char).collect()
}

const TEN_POW_20: i128 = 100_000_000_000_000_000_000;

fn too_many_digits() -> CoreError {
    CoreError::validation("integer has too many digits to be used in a key")
}

/// Sortable text of an integer given as i64.
pub fn encode_i64(n: i64) -> String {
    let mut out = String::with_capacity(21);
    if n >= 0 {
        push_padded_20(&mut out, n as u128);
    } else {
        out.push('-');
        push_padded_20(&mut out, (TEN_POW_20 + n as i128) as u128);
    }
    out
}

/// `n` (< 10^20) as 20 zero-padded digits.
fn push_padded_20(out: &mut String, n: u128) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    out.extend(std::iter::repeat_n('0', 20 - digits.len()));
    out.push_str(digits);
}

/// Sortable text of an integer given as decimal text (any size).
pub fn encode_int_text(text: &str) -> CoreResult<String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if !negative {
        if digits.len() <= 20 {
            return Ok(format!("{digits:0>20}"));
        }
        if digits.len() > 99 {
            return Err(too_many_digits());
        }
        return Ok(format!(":{:02}{digits}", digits.len()));
    }
    if digits.len() <= 21 {
        let magnitude: i128 = digits.parse().map_err(|_| too_many_digits())?;
        if magnitude <= TEN_POW_20 {
            return Ok(format!("-{:020}", TEN_POW_20 - magnitude));
        }
    }
    if digits.len() > 99 {
        return Err(too_many_digits());
    }
    Ok(format!(",{:02}{}", 99 - digits.len(), nines(digits)))
}

pub fn encode_integer(num: &Num) -> CoreResult<String> {
    match num {
        Num::Int(n) => Ok(encode_i64(*n)),
        Num::BigInt(t) => encode_int_text(t),
        _ => Err(CoreError::validation("integer key value must be an int")),
    }
}

fn key_range_error() -> CoreError {
    CoreError::validation("number is out of range for a key")
}

pub fn encode_float_sortable(num: &Num) -> CoreResult<String> {
    let Some(p) = parts_of(num)? else {
        return Ok("0".to_owned());
    };
    if !(-400..=599).contains(&p.e10) {
        return Err(key_range_error());
    }
    if p.negative {
        Ok(format!("-{:03}.{}~", 599 - p.e10, nines(&p.digits)))
    } else {
        Ok(format!("1{:03}.{}", p.e10 + 400, p.digits))
    }
}

/// JavaScript's `toExponential(20)`: 21 significant digits, ties away from zero.
pub fn encode_float_dynamo_bao(num: &Num) -> CoreResult<String> {
    let Some(p) = parts_of(num)? else {
        return Ok(format!("0.{}e+0", "0".repeat(20)));
    };
    if !(-400..=599).contains(&p.e10) {
        return Err(key_range_error());
    }
    let (digits, e10) = match num {
        Num::Float(x) => float_21_digits(x.abs()),
        _ => round_half_up_21(&p.digits, p.e10),
    };
    let mut out = String::with_capacity(32);
    if p.negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    out.push('.');
    out.push_str(&digits[1..]);
    out.push_str(if e10 >= 0 { "e+" } else { "e-" });
    out.push_str(&e10.abs().to_string());
    Ok(out)
}

/// Round exact decimal digits to 21 significant digits, half up.
fn round_half_up_21(digits: &str, e10: i64) -> (String, i64) {
    if digits.len() <= 21 {
        return (format!("{digits:0<21}"), e10);
    }
    let mut kept: Vec<u8> = digits.as_bytes()[..21].to_vec();
    if digits.as_bytes()[21] >= b'5' {
        let mut i = kept.len();
        loop {
            if i == 0 {
                // 9.99…9 rounded up to 10.0…0
                kept.insert(0, b'1');
                kept.truncate(21);
                return (String::from_utf8(kept).unwrap_or_default(), e10 + 1);
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    (String::from_utf8(kept).unwrap_or_default(), e10)
}

/// 21 significant digits of a positive finite double, ties away from zero.
///
/// Rust's `{:.20e}` rounds the exact binary value correctly but breaks ties to even; a tie
/// needs the exact expansion to end at the 22nd digit with a 5, which is checked exactly.
fn float_21_digits(x: f64) -> (String, i64) {
    let probe = format!("{x:.40e}");
    let (mant, _) = probe.split_once('e').unwrap_or((&probe, "0"));
    let probe_digits: String = mant.chars().filter(|c| *c != '.').collect();
    let maybe_tie =
        probe_digits.as_bytes()[21] == b'5' && probe_digits[22..].bytes().all(|b| b == b'0');
    if maybe_tie {
        // A double's exact expansion has at most 767 significant digits.
        let exact = format!("{x:.1100e}");
        let (mant, exp) = exact.split_once('e').unwrap_or((&exact, "0"));
        let digits: String = mant.chars().filter(|c| *c != '.').collect();
        let e10 = exp.parse::<i64>().unwrap_or(0);
        return round_half_up_21(digits.trim_end_matches('0'), e10);
    }
    let s = format!("{x:.20e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse::<i64>().unwrap_or(0))
}

// ------------------------------------------------------------------------------------------
// encode_index_value

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FloatEncoding {
    Sortable,
    DynamoBao,
}

impl FloatEncoding {
    pub fn parse(obj: &Bound<'_, PyAny>) -> CoreResult<Self> {
        match obj.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
            Some("sortable") => Ok(FloatEncoding::Sortable),
            Some("dynamo-bao") => Ok(FloatEncoding::DynamoBao),
            _ => Err(CoreError::config(
                "invalid float encoding: use 'sortable' or 'dynamo-bao'",
            )),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FloatEncoding::Sortable => "sortable",
            FloatEncoding::DynamoBao => "dynamo-bao",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IndexKind {
    String,
    Integer,
    Float,
    Boolean,
    Datetime,
}

impl IndexKind {
    pub fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "string" => IndexKind::String,
            "integer" => IndexKind::Integer,
            "float" => IndexKind::Float,
            "boolean" => IndexKind::Boolean,
            "datetime" => IndexKind::Datetime,
            _ => return None,
        })
    }
}

/// Sortable key text of `value` as an index value of `kind`.
pub fn encode_value(
    kind: IndexKind,
    value: &Bound<'_, PyAny>,
    float_encoding: FloatEncoding,
) -> PyResult<String> {
    match kind {
        IndexKind::String => Ok(key_value(value, "string key value")?.to_owned()),
        IndexKind::Integer => {
            if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                return Err(CoreError::validation(format!(
                    "integer key value must be an int, got {}",
                    type_name(value)
                ))
                .into());
            }
            Ok(encode_integer(&number_or_err(value)?)?)
        }
        IndexKind::Float => {
            let num = number_or_err(value)?;
            Ok(match float_encoding {
                FloatEncoding::Sortable => encode_float_sortable(&num)?,
                FloatEncoding::DynamoBao => encode_float_dynamo_bao(&num)?,
            })
        }
        IndexKind::Boolean => match value.cast::<PyBool>() {
            Ok(b) => Ok(if b.is_true() { "1" } else { "0" }.to_owned()),
            Err(_) => Err(CoreError::validation(format!(
                "boolean key value must be a bool, got {}",
                type_name(value)
            ))
            .into()),
        },
        IndexKind::Datetime => Ok(encode_integer(&datetime_ms(value, "datetime")?)?),
    }
}

#[pyfunction]
#[pyo3(signature = (kind, value, float_encoding = None))]
pub fn encode_index_value(
    kind: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    float_encoding: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let float_encoding = match float_encoding {
        Some(f) => FloatEncoding::parse(f)?,
        None => FloatEncoding::Sortable,
    };
    let kind = kind
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
        .and_then(IndexKind::parse)
        .ok_or_else(|| {
            CoreError::config(
                "unknown index value kind: use one of string, integer, float, boolean, datetime",
            )
        })?;
    encode_value(kind, value, float_encoding)
}
