//! Errors as `dynamo_bao.exceptions` classes.
//!
//! The Rust code builds a `CoreError` (kind + message) where no Python object is at hand and
//! turns it into the Python exception at the boundary, so both cores raise the same classes.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Validation,
    InvalidTenant,
    Configuration,
}

#[derive(Debug)]
pub struct CoreError {
    pub kind: Kind,
    pub message: String,
    pub field: Option<String>,
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn validation(message: impl Into<String>) -> Self {
        CoreError {
            kind: Kind::Validation,
            message: message.into(),
            field: None,
        }
    }
    pub fn tenant(message: impl Into<String>) -> Self {
        CoreError {
            kind: Kind::InvalidTenant,
            message: message.into(),
            field: None,
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        CoreError {
            kind: Kind::Configuration,
            message: message.into(),
            field: None,
        }
    }
}

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let module = EXCEPTIONS.get_or_try_init(py, || {
        PyModule::import(py, "dynamo_bao.exceptions").map(|m| m.unbind())
    })?;
    module.bind(py).getattr(name)
}

fn build(py: Python<'_>, err: CoreError) -> PyErr {
    let name = match err.kind {
        Kind::Validation => "ValidationError",
        Kind::InvalidTenant => "InvalidTenantIdError",
        Kind::Configuration => "ConfigurationError",
    };
    let made = exception_class(py, name).and_then(|cls| match (err.kind, err.field) {
        (Kind::Configuration, _) | (_, None) => cls.call1((err.message,)),
        (_, Some(field)) => cls.call1((err.message, field)),
    });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(import_error) => import_error,
    }
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        Python::attach(|py| build(py, err))
    }
}

/// Prefix a Bao ValidationError raised below with `Model.field: ` and attach the field name,
/// as the pure core's `Schema._field_error` does. Other errors pass through unchanged.
pub fn with_field(py: Python<'_>, err: PyErr, model: &str, field: &str) -> PyErr {
    let Ok(cls) = exception_class(py, "ValidationError") else {
        return err;
    };
    if !err.matches(py, &cls).unwrap_or(false) {
        return err;
    }
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    CoreError {
        kind: Kind::Validation,
        message: format!("{model}.{field}: {message}"),
        field: Some(field.to_owned()),
    }
    .into()
}

/// The `ValidationError` of a stored attribute that does not fit its field: `field`, and the
/// item's `primary_id` and the `stored_type` found as attributes (as the pure core's
/// `Schema._misfit` makes it).
pub fn stored_misfit(
    py: Python<'_>,
    message: String,
    field: &str,
    primary_id: Option<&str>,
    stored_type: Option<&str>,
) -> PyErr {
    let made = exception_class(py, "ValidationError").and_then(|cls| {
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("primary_id", primary_id)?;
        kwargs.set_item("stored_type", stored_type)?;
        cls.call((message, field), Some(&kwargs))
    });
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// Whether `err` is a `dynamo_bao.exceptions.ValidationError` (or a subclass).
pub fn is_validation_error(py: Python<'_>, err: &PyErr) -> bool {
    exception_class(py, "ValidationError")
        .map(|cls| err.matches(py, &cls).unwrap_or(false))
        .unwrap_or(false)
}
