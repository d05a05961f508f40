//! Tenant-id and model-prefix validation (DESIGN §6.2, §6.4).

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors::{CoreError, CoreResult};
use crate::py_types::type_name;

/// 1-64 characters of `[A-Za-z0-9_.-]`, the first a letter or digit.
pub fn check_tenant(tid: &str) -> CoreResult<()> {
    let bytes = tid.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::tenant(format!(
            "invalid tenant id {}: use 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
            py_repr_str(tid)
        )))
    }
}

/// 1-10 characters of `[A-Za-z0-9_]`.
pub fn check_prefix(prefix: &str) -> CoreResult<()> {
    let bytes = prefix.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 10
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::config(format!(
            "invalid model prefix {}: use 1-10 characters of A-Z a-z 0-9 _",
            py_repr_str(prefix)
        )))
    }
}

/// A short quoted rendering of a string for messages (not byte-exact `repr`).
pub fn py_repr_str(s: &str) -> String {
    format!("{s:?}")
}

/// The tenant id of a Python object (`str`), validated.
pub fn tenant_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    tenant_text(obj).map(str::to_owned)
}

/// The text of a valid tenant id given as a Python `str`, borrowed from it.
pub fn tenant_text<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    let Ok(s) = obj.cast::<PyString>() else {
        return Err(
            CoreError::tenant(format!("tenant id must be a str, got {}", type_name(obj))).into(),
        );
    };
    let text = s
        .to_str()
        .map_err(|_| CoreError::tenant("invalid tenant id (not valid text)"))?;
    check_tenant(text)?;
    Ok(text)
}

/// A model prefix of a Python object, validated.
pub fn prefix_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let text = obj
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok().map(str::to_owned));
    match text {
        Some(t) => {
            check_prefix(&t)?;
            Ok(t)
        }
        None => Err(CoreError::config(format!(
            "invalid model prefix of type {}: use 1-10 characters of A-Z a-z 0-9 _",
            type_name(obj)
        ))
        .into()),
    }
}

#[pyfunction]
pub fn validate_tenant_id<'py>(tid: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    tenant_of(tid)?;
    Ok(tid.clone())
}

#[pyfunction]
pub fn validate_model_prefix<'py>(prefix: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    prefix_of(prefix)?;
    Ok(prefix.clone())
}
