//! Key formats (DESIGN §5, with the fixes of §6.3-6.4): primary, GSI, unique-constraint and
//! iteration keys, DynamoBao's bucket hash, and primary ids `pk##__SK__##sk`.

use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};

use crate::errors::{CoreError, CoreResult};
use crate::py_types::{text, type_name};
use crate::tenant::{prefix_of, tenant_text};

pub const SK_SEPARATOR: &str = "##__SK__##";
pub const UNIQUE_KEY_SK: &str = "_raft_uc";
/// DynamoDB's limits on key values, in UTF-8 bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// A key text over DynamoDB's limit, named by `what`.
pub fn key_too_long(what: &str, text: &str, limit: usize) -> CoreError {
    CoreError::validation(format!(
        "{what} is {} bytes long; DynamoDB allows at most {limit} bytes",
        text.len()
    ))
}

pub fn check_key_size(text: &str, limit: usize, what: &str) -> CoreResult<()> {
    if text.len() > limit {
        Err(key_too_long(what, text, limit))
    } else {
        Ok(())
    }
}

/// A tenant argument: `None` means no tenant; anything else must be a valid tenant id.
pub fn optional_tenant<'a>(tenant: Option<&'a Bound<'_, PyAny>>) -> PyResult<Option<&'a str>> {
    match tenant {
        None => Ok(None),
        Some(t) if t.is_none() => Ok(None),
        Some(t) => tenant_text(t).map(Some),
    }
}

/// A non-empty key component given as a Python `str`.
pub fn key_value<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> CoreResult<&'a str> {
    let s = match obj.cast_exact::<PyString>() {
        Ok(s) => s,
        Err(_) => obj.cast::<PyString>().map_err(|_| {
            CoreError::validation(format!("{what} must be a str, got {}", type_name(obj)))
        })?,
    };
    let value = text(s, what)?;
    if value.is_empty() {
        return Err(CoreError::validation(format!("{what} must not be empty")));
    }
    Ok(value)
}

pub fn check_non_empty(value: &str, what: &str) -> CoreResult<()> {
    if value.is_empty() {
        Err(CoreError::validation(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

/// Partition-key values may not hold the composite-id separator (DESIGN §6.4).
pub fn check_partition(value: &str) -> CoreResult<()> {
    check_non_empty(value, "partition key value")?;
    if value.contains(SK_SEPARATOR) {
        return Err(CoreError::validation(format!(
            "partition key value {value:?} must not contain '{SK_SEPARATOR}'"
        )));
    }
    Ok(())
}

fn push_head(out: &mut String, tenant: Option<&str>, prefix: &str) {
    if let Some(t) = tenant {
        out.push('[');
        out.push_str(t);
        out.push_str("]#");
    }
    out.push_str(prefix);
}

/// `[T]#P#v`, `P#v`, or `[T]#P` / `P` for a model whose partition key is its prefix.
pub fn primary_key(tenant: Option<&str>, prefix: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    write_primary_key(&mut out, tenant, prefix, value);
    out
}

/// [`primary_key`] written into `out` (cleared first): callers making several keys reuse one
/// buffer.
pub fn write_primary_key(
    out: &mut String,
    tenant: Option<&str>,
    prefix: &str,
    value: Option<&str>,
) {
    out.clear();
    push_head(out, tenant, prefix);
    if let Some(v) = value {
        out.push('#');
        out.push_str(v);
    }
}

pub fn check_index_id(index_id: &str) -> CoreResult<()> {
    let b = index_id.as_bytes();
    if b.len() == 4 && &b[..3] == b"gsi" && (b'1'..=b'5').contains(&b[3]) {
        Ok(())
    } else {
        Err(CoreError::config(format!(
            "invalid index id {index_id:?}: use gsi1 .. gsi5"
        )))
    }
}

/// `[T]#P#gsiN#v` (`P#gsiN#v` without tenant).
pub fn gsi_key(tenant: Option<&str>, prefix: &str, index_id: &str, value: &str) -> String {
    let mut out = String::new();
    write_gsi_key(&mut out, tenant, prefix, index_id, value);
    out
}

/// [`gsi_key`] written into `out` (cleared first).
pub fn write_gsi_key(
    out: &mut String,
    tenant: Option<&str>,
    prefix: &str,
    index_id: &str,
    value: &str,
) {
    out.clear();
    push_head(out, tenant, prefix);
    out.push('#');
    out.push_str(index_id);
    out.push('#');
    out.push_str(value);
}

pub fn check_buckets(buckets: i64) -> CoreResult<u32> {
    if (1..=1000).contains(&buckets) {
        Ok(buckets as u32)
    } else {
        Err(CoreError::config(format!(
            "iteration buckets must be an int between 1 and 1000, got {buckets}"
        )))
    }
}

/// `[T]#P#iter` for one bucket, else `[T]#P#iter#007`.
pub fn iteration_key(tenant: Option<&str>, prefix: &str, bucket: u32, buckets: u32) -> String {
    let mut out = String::new();
    write_iteration_key(&mut out, tenant, prefix, bucket, buckets);
    out
}

/// [`iteration_key`] written into `out` (cleared first).
pub fn write_iteration_key(
    out: &mut String,
    tenant: Option<&str>,
    prefix: &str,
    bucket: u32,
    buckets: u32,
) {
    out.clear();
    push_head(out, tenant, prefix);
    out.push_str("#iter");
    if buckets != 1 {
        // `#{bucket:03}` without the formatting machinery (buckets are at most 1000).
        out.push('#');
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(bucket);
        for _ in digits.len()..3 {
            out.push('0');
        }
        out.push_str(digits);
    }
}

/// DynamoBao's bucket: Java's `String.hashCode` (32-bit, over UTF-16 code units), abs, mod n.
pub fn bucket_of(primary_id: &str, buckets: u32) -> u32 {
    let mut h: i32 = 0;
    for unit in primary_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    ((h as i64).abs() % buckets as i64) as u32
}

/// `pk`, `sk` or `pk##__SK__##sk` (values already checked).
pub fn primary_id(pk: Option<&str>, sk: Option<&str>) -> String {
    match (pk, sk) {
        (Some(p), Some(s)) => {
            let mut out = String::with_capacity(p.len() + s.len() + SK_SEPARATOR.len());
            out.push_str(p);
            out.push_str(SK_SEPARATOR);
            out.push_str(s);
            out
        }
        (Some(p), None) => p.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => String::new(),
    }
}

/// Split at the first separator; `sk` is `None` without a sort key.
pub fn split_primary_id(id: &str, has_sort_key: bool) -> CoreResult<(&str, Option<&str>)> {
    check_non_empty(id, "primary id")?;
    if !has_sort_key {
        check_partition(id)?;
        return Ok((id, None));
    }
    match id.split_once(SK_SEPARATOR) {
        Some((pk, sk)) => {
            check_non_empty(pk, "partition key value")?;
            check_non_empty(sk, "sort key value")?;
            Ok((pk, Some(sk)))
        }
        None => Err(CoreError::validation(format!(
            "primary id {id:?} has no '{SK_SEPARATOR}'; the model has a composite key (pk##__SK__##sk)"
        ))),
    }
}

fn strict_int(obj: &Bound<'_, PyAny>) -> Option<i64> {
    if obj.is_instance_of::<pyo3::types::PyBool>() || !obj.is_instance_of::<PyInt>() {
        return None;
    }
    obj.extract::<i64>().ok()
}

fn buckets_arg(obj: &Bound<'_, PyAny>) -> CoreResult<u32> {
    match strict_int(obj) {
        Some(n) => check_buckets(n),
        None => Err(CoreError::config(format!(
            "iteration buckets must be an int between 1 and 1000, got {}",
            type_name(obj)
        ))),
    }
}

#[pyfunction]
pub fn format_primary_key(
    tenant: Option<&Bound<'_, PyAny>>,
    prefix: &Bound<'_, PyAny>,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let tenant = optional_tenant(tenant)?;
    let prefix = prefix_of(prefix)?;
    let value = match value {
        Some(v) if !v.is_none() => {
            let v = key_value(v, "partition key value")?;
            check_partition(v)?;
            Some(v)
        }
        _ => None,
    };
    let key = primary_key(tenant, &prefix, value);
    check_key_size(&key, MAX_PARTITION_KEY_BYTES, "partition key")?;
    Ok(key)
}

#[pyfunction]
pub fn format_gsi_key(
    tenant: Option<&Bound<'_, PyAny>>,
    prefix: &Bound<'_, PyAny>,
    index_id: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let tenant = optional_tenant(tenant)?;
    let prefix = prefix_of(prefix)?;
    let index_id = index_id
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
        .ok_or_else(|| CoreError::config("invalid index id: use gsi1 .. gsi5"))?;
    check_index_id(index_id)?;
    let value = key_value(value, "index key value")?;
    let key = gsi_key(tenant, &prefix, index_id, value);
    check_key_size(&key, MAX_PARTITION_KEY_BYTES, "index partition key")?;
    Ok(key)
}

/// `"uc1"`/`"_uc1"` → `'1'`.
fn constraint_number(obj: &Bound<'_, PyAny>) -> CoreResult<char> {
    let text = obj.cast::<PyString>().ok().and_then(|s| s.to_str().ok());
    if let Some(t) = text {
        let t = t.strip_prefix('_').unwrap_or(t);
        if let Some(n) = t.strip_prefix("uc") {
            if n.len() == 1 && matches!(n, "1" | "2" | "3") {
                return Ok(n.chars().next().unwrap_or('1'));
            }
        }
    }
    Err(CoreError::config(
        "invalid unique constraint id: use uc1, uc2 or uc3",
    ))
}

#[pyfunction]
pub fn format_unique_key(
    tenant: Option<&Bound<'_, PyAny>>,
    constraint_id: &Bound<'_, PyAny>,
    prefix: &Bound<'_, PyAny>,
    field: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let tenant = optional_tenant(tenant)?;
    let number = constraint_number(constraint_id)?;
    let prefix = prefix_of(prefix)?;
    let field = field
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
        .filter(|f| !f.is_empty() && f.is_ascii())
        .ok_or_else(|| CoreError::config("invalid field name for a unique constraint"))?;
    let value = key_value(value, "unique value")?;
    let mut out = String::new();
    if let Some(t) = tenant {
        out.push('[');
        out.push_str(t);
        out.push_str("]#");
    }
    out.push_str(UNIQUE_KEY_SK);
    out.push_str("#_uc");
    out.push(number);
    out.push('#');
    out.push_str(&prefix);
    out.push('#');
    out.push_str(field);
    out.push(':');
    out.push_str(value);
    check_key_size(&out, MAX_PARTITION_KEY_BYTES, "unique-constraint key")?;
    Ok(out)
}

#[pyfunction]
pub fn format_iteration_key(
    tenant: Option<&Bound<'_, PyAny>>,
    prefix: &Bound<'_, PyAny>,
    bucket: &Bound<'_, PyAny>,
    buckets: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let tenant = optional_tenant(tenant)?;
    let prefix = prefix_of(prefix)?;
    let buckets = buckets_arg(buckets)?;
    let bucket = match strict_int(bucket) {
        Some(b) if (0..buckets as i64).contains(&b) => b as u32,
        _ => {
            return Err(
                CoreError::validation(format!("bucket is out of range 0..{}", buckets - 1)).into(),
            )
        }
    };
    Ok(iteration_key(tenant, &prefix, bucket, buckets))
}

#[pyfunction]
pub fn iteration_bucket(
    primary_id: &Bound<'_, PyAny>,
    buckets: &Bound<'_, PyAny>,
) -> PyResult<u32> {
    let Ok(s) = primary_id.cast::<PyString>() else {
        return Err(CoreError::validation(format!(
            "primary id must be a str, got {}",
            type_name(primary_id)
        ))
        .into());
    };
    let buckets = buckets_arg(buckets)?;
    let id = text(s, "primary id")?;
    Ok(bucket_of(id, buckets))
}

#[pyfunction]
pub fn format_primary_id(
    pk: Option<&Bound<'_, PyAny>>,
    sk: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let pk = pk.filter(|v| !v.is_none());
    let sk = sk.filter(|v| !v.is_none());
    if pk.is_none() && sk.is_none() {
        return Err(
            CoreError::validation("a primary id needs a partition or a sort key value").into(),
        );
    }
    let pk = match pk {
        Some(p) => {
            let p = key_value(p, "partition key value")?;
            check_partition(p)?;
            Some(p)
        }
        None => None,
    };
    let sk = match sk {
        Some(s) => Some(key_value(s, "sort key value")?),
        None => None,
    };
    Ok(primary_id(pk, sk))
}

#[pyfunction]
pub fn parse_primary_id(
    primary_id: &Bound<'_, PyAny>,
    has_sort_key: bool,
) -> PyResult<(String, Option<String>)> {
    let id = key_value(primary_id, "primary id")?;
    let (pk, sk) = split_primary_id(id, has_sort_key)?;
    Ok((pk.to_owned(), sk.map(str::to_owned)))
}
