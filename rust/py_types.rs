//! Python objects the core needs: cached types and constants, exact text of `str` objects.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyType};

use crate::errors::CoreError;

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static UTC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ONE_MS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn import_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    module: &str,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, module, name)
}

pub fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    import_type(py, &DECIMAL, "decimal", "Decimal")
}

pub fn datetime_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    import_type(py, &DATETIME, "datetime", "datetime")
}

pub fn timedelta_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    import_type(py, &TIMEDELTA, "datetime", "timedelta")
}

/// `datetime.timezone.utc`.
pub fn utc(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    UTC.get_or_try_init(py, || {
        Ok::<_, PyErr>(
            py.import("datetime")?
                .getattr("timezone")?
                .getattr("utc")?
                .unbind(),
        )
    })
    .map(|o| o.bind(py))
}

/// 1970-01-01T00:00:00+00:00 as an aware datetime.
pub fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                datetime_type(py)?
                    .call1((1970, 1, 1, 0, 0, 0, 0, utc(py)?))?
                    .unbind(),
            )
        })
        .map(|o| o.bind(py))
}

/// `timedelta(milliseconds=1)`.
pub fn one_millisecond(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    ONE_MS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(timedelta_type(py)?.call1((0, 0, 0, 1))?.unbind())
        })
        .map(|o| o.bind(py))
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// The UTF-8 text of a `str` object; a lone surrogate (not encodable, so not storable in
/// DynamoDB) is a ValidationError naming `what`.
pub fn text<'a>(s: &'a Bound<'_, PyString>, what: &str) -> Result<&'a str, CoreError> {
    s.to_str()
        .map_err(|_| CoreError::validation(format!("{what} contains a lone surrogate")))
}
