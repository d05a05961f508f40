//! Numbers: what a Python number is (`Num`), its exact decimal digits, the text of an `N`
//! attribute (checked against DynamoDB's limits; floats in ECMAScript `Number::toString` form,
//! as DynamoBao stores them), and datetimes as epoch milliseconds.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString, PyTuple};

use crate::errors::{CoreError, CoreResult};
use crate::py_types::{datetime_type, decimal_type, epoch, one_millisecond, type_name};

/// A number seen from Python: an int that fits i64, any other int (as decimal text), a float,
/// or a Decimal (as `str(d)`).
pub enum Num {
    Int(i64),
    BigInt(String),
    Float(f64),
    Dec(String),
}

/// Value = d1.d2d3… × 10^e10 with `digits` free of leading and trailing zeros.
pub struct Parts {
    pub negative: bool,
    pub digits: String,
    pub e10: i64,
}

fn big_int_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    // int.__repr__ gives the digits even for int subclasses with their own __str__ (IntEnum).
    let py = obj.py();
    // Beyond Python's int-to-text limit the number is far beyond DynamoDB's too.
    let text = py
        .get_type::<PyInt>()
        .call_method1("__repr__", (obj,))
        .map_err(|e| {
            if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) {
                CoreError::validation("integer has too many digits to be stored").into()
            } else {
                e
            }
        })?;
    Ok(text.cast::<PyString>()?.to_str()?.to_owned())
}

/// The number in `obj`, or `None` when `obj` is not a number (bool is not a number here).
pub fn number_of(obj: &Bound<'_, PyAny>) -> PyResult<Option<Num>> {
    if obj.is_exact_instance_of::<PyFloat>() {
        return Ok(Some(Num::Float(obj.extract::<f64>()?)));
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(None);
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Some(match obj.extract::<i64>() {
            Ok(n) => Num::Int(n),
            Err(_) => Num::BigInt(big_int_text(obj)?),
        }));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Some(Num::Float(obj.extract::<f64>()?)));
    }
    if obj.is_instance(decimal_type(obj.py())?)? {
        let text = obj.str()?;
        return Ok(Some(Num::Dec(text.to_str()?.to_owned())));
    }
    Ok(None)
}

pub fn number_or_err(obj: &Bound<'_, PyAny>) -> PyResult<Num> {
    match number_of(obj)? {
        Some(n) => Ok(n),
        None => {
            Err(CoreError::validation(format!("expected a number, got {}", type_name(obj))).into())
        }
    }
}

fn not_finite(text: &str) -> CoreError {
    CoreError::validation(format!("not a finite number: {text:?}"))
}

/// The pieces of decimal number text `[+-]digits[.digits][(e|E)[+-]digits]` (at least one
/// digit before the exponent): `(negative, integer digits, fraction digits, exponent text)`.
/// This one scanner defines what number text is, for reading `N` values and for Decimals.
pub fn split_number(text: &str) -> Option<(bool, &str, &str, Option<&str>)> {
    let b = text.as_bytes();
    let digits_from = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let negative = b.first() == Some(&b'-');
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let ip_end = digits_from(i);
    let ip = &text[i..ip_end];
    i = ip_end;
    let mut fp = "";
    if b.get(i) == Some(&b'.') {
        let fp_end = digits_from(i + 1);
        fp = &text[i + 1..fp_end];
        i = fp_end;
    }
    let mut exp = None;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let end = digits_from(i + 1 + sign);
        if end == i + 1 + sign {
            return None;
        }
        exp = Some(&text[i + 1..end]);
        i = end;
    }
    (i == b.len() && !(ip.is_empty() && fp.is_empty())).then_some((negative, ip, fp, exp))
}

/// The exponent part of number text (0 without one), bounded so that arithmetic on it cannot
/// overflow.
fn exponent(text: &str, exp_text: Option<&str>) -> CoreResult<i64> {
    match exp_text {
        Some(e) => e
            .parse::<i64>()
            .ok()
            .filter(|e| e.abs() < (1 << 60))
            .ok_or_else(|| CoreError::validation(format!("number {text} is out of range"))),
        None => Ok(0),
    }
}

/// Parse decimal text (`[+-]digits[.digits][e[+-]digits]`); `None` for zero.
pub fn decimal_parts(text: &str) -> CoreResult<Option<Parts>> {
    let Some((negative, ip, fp, exp_text)) = split_number(text) else {
        return Err(not_finite(text));
    };
    let raw_len = ip.len() + fp.len();
    let raw: String = [ip, fp].concat();
    let stripped = raw.trim_start_matches('0');
    if stripped.is_empty() {
        return Ok(None);
    }
    let leading = raw_len - stripped.len();
    let e10 = exponent(text, exp_text)? + ip.len() as i64 - leading as i64 - 1;
    Ok(Some(Parts {
        negative,
        digits: stripped.trim_end_matches('0').to_owned(),
        e10,
    }))
}

/// Shortest round-trip digits of a finite float (the same digits as Python's `repr`).
pub fn float_parts(x: f64) -> CoreResult<Option<Parts>> {
    if !x.is_finite() {
        return Err(CoreError::validation(format!(
            "cannot store a non-finite number: {}",
            py_float_repr(x)
        )));
    }
    if x == 0.0 {
        return Ok(None);
    }
    // The shortest digits that read back as `x`, chosen as JavaScript's `String(x)` (and
    // Python's `repr`) choose them: when two are equally close to the exact binary value, the
    // even one (Rust's `{:e}` can pick the other, e.g. 562949953421312.25 -> ...312.3).
    let mut buf = ryu_js::Buffer::new();
    let text = buf.format_finite(x.abs());
    let (mant, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, fraction) = mant.split_once('.').unwrap_or((mant, ""));
    let all: String = [int_part, fraction].concat();
    let lead = all.len() - all.trim_start_matches('0').len();
    Ok(Some(Parts {
        negative: x < 0.0,
        digits: all[lead..].trim_end_matches('0').to_owned(),
        e10: int_part.len() as i64 - 1 - lead as i64 + exp,
    }))
}

fn py_float_repr(x: f64) -> &'static str {
    if x.is_nan() {
        "nan"
    } else if x > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// `(number of significant digits, e10)` of decimal number text: what [`decimal_parts`]
/// gives, without building the digit string; `None` for zero. Same errors, in the same order.
fn decimal_shape(text: &str) -> CoreResult<Option<(usize, i64)>> {
    let Some((_, ip, fp, exp_text)) = split_number(text) else {
        return Err(not_finite(text));
    };
    let raw_len = ip.len() + fp.len();
    let raw = || ip.bytes().chain(fp.bytes());
    let leading = raw().take_while(|&b| b == b'0').count();
    if leading == raw_len {
        return Ok(None);
    }
    let trailing = raw().rev().take_while(|&b| b == b'0').count();
    let e10 = exponent(text, exp_text)? + ip.len() as i64 - leading as i64 - 1;
    Ok(Some((raw_len - leading - trailing, e10)))
}

/// Checks the text of an int or a Decimal against DynamoDB's limits.
pub fn check_number_text(text: &str) -> CoreResult<()> {
    check_dynamodb_number(decimal_shape(text)?, text)
}

fn check_dynamodb_number(shape: Option<(usize, i64)>, text: &str) -> CoreResult<()> {
    if let Some((digits, e10)) = shape {
        if digits > 38 {
            return Err(CoreError::validation(format!(
                "number {text} has more than 38 significant digits (DynamoDB's limit)"
            )));
        }
        if !(-130..=125).contains(&e10) {
            return Err(CoreError::validation(format!(
                "number {text} is out of DynamoDB's range (1e-130 to 1e126 in magnitude)"
            )));
        }
    }
    Ok(())
}

/// DynamoDB's number range for a float: 1e-130 <= |x| < 1e126 (zero aside). Comparing with
/// the doubles nearest those bounds gives the same answer as comparing the shortest decimal
/// form, which is what the pure core does; a double never has more than 17 digits.
fn check_float_range(x: f64) -> CoreResult<()> {
    if !x.is_finite() {
        return Err(CoreError::validation(format!(
            "cannot store a non-finite number: {}",
            py_float_repr(x)
        )));
    }
    let a = x.abs();
    if a != 0.0 && !(1e-130..1e126).contains(&a) {
        let mut buf = ryu_js::Buffer::new();
        return Err(CoreError::validation(format!(
            "number {} is out of DynamoDB's range (1e-130 to 1e126 in magnitude)",
            buf.format_finite(x)
        )));
    }
    Ok(())
}

/// A fast path for the common floats with few decimals (prices, scores): the text of `x`
/// when `x` is `n / 10^k` for an integer `|n| < 10^15` and `k <= 6`, else `None`.
///
/// Exact: a decimal of at most 15 significant digits that converts back to `x` is the
/// shortest one (two such decimals can never map to the same double), once trailing zeros are
/// dropped; the value lies in [1e-6, 1e15), where ECMAScript writes plain decimals. So a value
/// given text here is finite and within DynamoDB's range too.
/// Everything else goes to the general algorithm.
struct ShortDecimal {
    buf: [u8; 24],
}

const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

impl ShortDecimal {
    fn new() -> Self {
        ShortDecimal { buf: [0; 24] }
    }

    fn format(&mut self, x: f64) -> Option<&str> {
        let a = x.abs();
        if !(1e-6..1e15).contains(&a) {
            return None;
        }
        let (mut k, mut n) = POW10.iter().enumerate().find_map(|(k, &p)| {
            let scaled = a * p;
            if scaled >= 1e15 {
                return None;
            }
            // SAFETY: `scaled` is finite and in [0, 1e15), so it fits an i64: one truncating
            // conversion, without `as`'s saturation checks.
            let n = unsafe { scaled.to_int_unchecked::<i64>() };
            // `n as f64 == scaled` tests integrality without a libm call.
            (n as f64 == scaled && n as f64 / p == a).then_some((k, n as u64))
        })?;
        // The scaled product is rounded, so a larger k than needed can be hit first.
        while k > 0 && n % 10 == 0 {
            n /= 10;
            k -= 1;
        }
        // Digits written backwards from the end: the k fraction digits (their leading zeros
        // included, as `n < 10^k` leaves them 0), the point, then the integer part ("0" if
        // none). At most 15 digits, a point, a "0" and a sign: 18 bytes of the 24.
        let mut i = self.buf.len();
        let mut put = |b: u8, buf: &mut [u8; 24]| -> Option<()> {
            i = i.checked_sub(1)?;
            *buf.get_mut(i)? = b;
            Some(())
        };
        if k > 0 {
            for _ in 0..k {
                put(b'0' + (n % 10) as u8, &mut self.buf)?;
                n /= 10;
            }
            put(b'.', &mut self.buf)?;
        }
        loop {
            put(b'0' + (n % 10) as u8, &mut self.buf)?;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if x < 0.0 {
            put(b'-', &mut self.buf)?;
        }
        // SAFETY: only ASCII digits, '-' and '.' were written.
        Some(unsafe { std::str::from_utf8_unchecked(self.buf.get(i..)?) })
    }
}

/// Calls `f` with the text of an `N` attribute (checked against DynamoDB's limits), formatted
/// on the stack for ints and floats: floats in ECMAScript `Number::toString` form.
pub fn with_n_text<R>(num: &Num, f: impl FnOnce(&str) -> R) -> CoreResult<R> {
    match num {
        Num::Int(n) => Ok(f(itoa::Buffer::new().format(*n))),
        Num::Float(x) => {
            // The fast path's values are all finite and in range: checked after it.
            let mut short = ShortDecimal::new();
            if let Some(text) = short.format(*x) {
                return Ok(f(text));
            }
            check_float_range(*x)?;
            if *x == 0.0 {
                return Ok(f("0"));
            }
            Ok(f(ryu_js::Buffer::new().format_finite(*x)))
        }
        Num::BigInt(text) | Num::Dec(text) => {
            check_number_text(text)?;
            Ok(f(text))
        }
    }
}

/// The text of an `N` attribute, checked against DynamoDB's limits.
pub fn n_text(num: &Num) -> CoreResult<String> {
    with_n_text(num, str::to_owned)
}

pub fn parts_of(num: &Num) -> CoreResult<Option<Parts>> {
    match num {
        Num::Int(n) => decimal_parts(&n.to_string()),
        Num::BigInt(t) | Num::Dec(t) => decimal_parts(t),
        Num::Float(x) => float_parts(*x),
    }
}

/// Epoch milliseconds of an aware datetime (floored) or of an int given as milliseconds.
pub fn datetime_ms(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Num> {
    let py = obj.py();
    if obj.is_exact_instance_of::<PyInt>() {
        return number_or_err(obj);
    }
    if let Some(ms) = utc_datetime_ms(obj)? {
        return Ok(Num::Int(ms));
    }
    if obj.is_instance(datetime_type(py)?)? {
        if obj.call_method0(pyo3::intern!(py, "utcoffset"))?.is_none() {
            return Err(CoreError::validation(format!(
                "{what} must be timezone-aware (naive datetimes are ambiguous)"
            ))
            .into());
        }
        let ms = obj.sub(epoch(py)?)?.floor_div(one_millisecond(py)?)?;
        return number_or_err(&ms);
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return number_or_err(obj);
    }
    Err(CoreError::validation(format!(
        "{what} must be an aware datetime or epoch milliseconds (int), got {}",
        type_name(obj)
    ))
    .into())
}

/// Epoch milliseconds of an exact `datetime` whose tzinfo is `timezone.utc` (what most code
/// passes), read in one call from its pickled state instead of the three Python-level steps of
/// `(dt - epoch) // 1 ms`; the stable ABI has no datetime C API. That state — `(datetime,
/// (10 bytes, tzinfo))`: year (2 bytes, big-endian), month (top bit: `fold`), day, hour,
/// minute, second, microsecond (3 bytes) — is the pickle format every Python version must keep
/// reading. `None` for anything else (other types and time zones take the general path).
fn utc_datetime_ms(obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    let py = obj.py();
    // SAFETY: a live object, GIL held.
    if unsafe { ffi::Py_TYPE(obj.as_ptr()) } != datetime_type(py)?.as_type_ptr() {
        return Ok(None);
    }
    let reduced = obj.call_method0(pyo3::intern!(py, "__reduce__"))?;
    let Some(args) = reduced
        .cast::<PyTuple>()
        .ok()
        .filter(|t| t.len() == 2)
        .and_then(|t| t.get_item(1).ok())
    else {
        return Ok(None);
    };
    let Ok(args) = args.cast_into::<PyTuple>() else {
        return Ok(None);
    };
    if args.len() != 2 || !args.get_item(1)?.is(crate::py_types::utc(py)?) {
        return Ok(None);
    }
    let state = args.get_item(0)?;
    let Ok(state) = state.cast::<PyBytes>() else {
        return Ok(None);
    };
    let &[y0, y1, month, day, hour, minute, second, u0, u1, u2] = state.as_bytes() else {
        return Ok(None);
    };
    let days = days_from_civil(
        i64::from(u16::from_be_bytes([y0, y1])),
        i64::from(month & 0x7F),
        i64::from(day),
    );
    let micro = i64::from(u32::from_be_bytes([0, u0, u1, u2]));
    let in_day = ((i64::from(hour) * 60 + i64::from(minute)) * 60 + i64::from(second)) * 1000;
    // Whole days and seconds are whole milliseconds, so flooring the microseconds floors all.
    Ok(Some(days * 86_400_000 + in_day + micro / 1000))
}

/// (year, month, day) in the proleptic Gregorian calendar → days since 1970-01-01
/// (H. Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// An aware UTC datetime for epoch milliseconds; `None` outside datetime's range (years
/// 1-9999). Built with one constructor call from the pickled state (see [`utc_datetime_ms`]),
/// which takes no int objects: the stable ABI has no datetime C API.
pub fn datetime_from_ms<'py>(py: Python<'py>, ms: i64) -> PyResult<Option<Bound<'py, PyAny>>> {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let Ok(year) = u16::try_from(year) else {
        return Ok(None);
    };
    if !(1..=9999).contains(&year) {
        return Ok(None);
    }
    // All below fit their bytes: hour < 24, minute and second < 60, micro < 1e6 < 2^24.
    let micro = (rem % 1000 * 1000) as u32;
    let [_, u0, u1, u2] = micro.to_be_bytes();
    let [y0, y1] = year.to_be_bytes();
    let state = [
        y0,
        y1,
        month as u8,
        day as u8,
        (rem / 3_600_000) as u8,
        (rem / 60_000 % 60) as u8,
        (rem / 1000 % 60) as u8,
        u0,
        u1,
        u2,
    ];
    let utc = crate::py_types::utc(py)?;
    datetime_type(py)?
        .call1((PyBytes::new(py, &state), utc))
        .map(Some)
}
