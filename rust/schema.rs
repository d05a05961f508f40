//! `Schema`: a model compiled once into field kinds, key and index definitions, so that a
//! whole item is built (and a whole item or page is read back) in one call across the
//! Python/Rust boundary. Mirrors `dynamo_bao.core._pure.Schema` exactly.

use std::borrow::Cow;
use std::collections::HashMap;

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple,
};
use smallvec::SmallVec;

use crate::encode::{encode_value, FloatEncoding, IndexKind};
use crate::errors::{is_validation_error, stored_misfit, with_field, CoreError};
use crate::keys::{
    bucket_of, check_buckets, check_index_id, key_too_long, key_value, optional_tenant, primary_id,
    split_primary_id, write_gsi_key, write_iteration_key, write_primary_key,
    MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES, SK_SEPARATOR,
};
use crate::marshal::{
    av, av_of, av_parts, binary_from_av, decimal_av, decimal_from_text, dict_set, float_from_text,
    int_from_text, is_bytes_like, is_int_literal, map_to_av, num_av, number_text, quick_number,
    raw_number_text, str_text, to_av, to_bytes, utf8_len, value_of, QuickNumber, Tag,
};
use crate::number::{datetime_from_ms, datetime_ms, number_of, Num};
use crate::py_types::{decimal_type, text, type_name};
use crate::tenant::prefix_of;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FieldKind {
    String,
    Integer,
    Float,
    Decimal,
    Boolean,
    Datetime,
    Ttl,
    Binary,
    StringSet,
    Map,
    List,
    Any,
}

impl FieldKind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => FieldKind::String,
            "integer" => FieldKind::Integer,
            "float" => FieldKind::Float,
            "decimal" => FieldKind::Decimal,
            "boolean" => FieldKind::Boolean,
            "datetime" => FieldKind::Datetime,
            "ttl" => FieldKind::Ttl,
            "binary" => FieldKind::Binary,
            "string_set" => FieldKind::StringSet,
            "map" => FieldKind::Map,
            "list" => FieldKind::List,
            "any" => FieldKind::Any,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldKind::String => "string",
            FieldKind::Integer => "integer",
            FieldKind::Float => "float",
            FieldKind::Decimal => "decimal",
            FieldKind::Boolean => "boolean",
            FieldKind::Datetime => "datetime",
            FieldKind::Ttl => "ttl",
            FieldKind::Binary => "binary",
            FieldKind::StringSet => "string_set",
            FieldKind::Map => "map",
            FieldKind::List => "list",
            FieldKind::Any => "any",
        }
    }

    /// The index encoding of this kind in keys; `None`: cannot be part of a key.
    fn key_encoding(self) -> Option<IndexKind> {
        match self {
            FieldKind::String => Some(IndexKind::String),
            FieldKind::Integer | FieldKind::Ttl => Some(IndexKind::Integer),
            FieldKind::Float | FieldKind::Decimal => Some(IndexKind::Float),
            FieldKind::Boolean => Some(IndexKind::Boolean),
            FieldKind::Datetime => Some(IndexKind::Datetime),
            _ => None,
        }
    }
}

pub(crate) struct Field {
    pub(crate) name: Py<PyString>,
    pub(crate) name_text: String,
    pub(crate) kind: FieldKind,
}

struct IndexDef {
    id: String,
    pk: Option<usize>,
    sk: Option<usize>,
    pk_attr: Py<PyString>,
    sk_attr: Py<PyString>,
}

#[pyclass(frozen, module = "dynamo_bao._native")]
pub struct Schema {
    model_name: String,
    prefix: String,
    /// The prefix as a Python `str`, made once: it is the sort key (and GSI key side) of
    /// models keyed by their prefix, stored in every item.
    prefix_str: Py<PyString>,
    pub(crate) fields: Vec<Field>,
    by_name: HashMap<String, usize>,
    partition_key: Option<usize>,
    sort_key: Option<usize>,
    indexes: Vec<IndexDef>,
    iteration_buckets: u32,
    float_encoding: FloatEncoding,
    /// Every attribute `to_item` may write, in write order, mapped to None: copying it gives a
    /// dict sized and ordered up front (no resizes while filling; the C API to presize a dict
    /// is not in the stable ABI). Attributes left unset are deleted at the end.
    item_template: Option<Py<PyDict>>,
    /// The same for the field values `from_item` returns.
    pub(crate) values_template: Option<Py<PyDict>>,
}

/// A copy of a template dict.
pub(crate) fn copy_dict<'py>(
    py: Python<'py>,
    template: &Option<Py<PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let Some(t) = template else {
        return Ok(PyDict::new(py));
    };
    // SAFETY: a live dict, GIL held; PyDict_Copy returns a new reference or NULL with an error.
    unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDict_Copy(t.as_ptr()))
            .map(|d| d.cast_into_unchecked::<PyDict>())
    }
}

pub(crate) fn dict_del(d: &Bound<'_, PyDict>, key: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: live objects, GIL held.
    if unsafe { ffi::PyDict_DelItem(d.as_ptr(), key.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(d.py()))
    }
}

fn config(message: String) -> PyErr {
    CoreError::config(message).into()
}

fn two_items<'py>(entry: &Bound<'py, PyAny>, n: usize) -> Option<Vec<Bound<'py, PyAny>>> {
    if let Ok(t) = entry.cast::<PyTuple>() {
        if t.len() == n {
            return Some(t.iter().collect());
        }
    } else if let Ok(l) = entry.cast::<PyList>() {
        if l.len() == n {
            return Some(l.iter().collect());
        }
    }
    None
}

/// A key component: its text, and the exact `str` it was read from when the text is that
/// string itself, so the stored key attribute can be that object (no new string).
#[derive(Clone)]
struct KeyText<'a, 'py> {
    text: Cow<'a, str>,
    object: Option<&'a Bound<'py, PyAny>>,
}

impl<'a, 'py> KeyText<'a, 'py> {
    fn of_text(text: &'a str) -> Self {
        KeyText {
            text: Cow::Borrowed(text),
            object: None,
        }
    }

    /// `{"S": text}`.
    fn av(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self.object {
            Some(o) => av_of(intern!(py, "S"), o),
            None => av(py, intern!(py, "S"), self.text.as_ref()),
        }
    }
}

fn text_of<'b>(key: &'b Option<KeyText<'_, '_>>) -> Option<&'b str> {
    key.as_ref().map(|k| k.text.as_ref())
}

/// `{"S": buf}`: a key written into the scratch buffer.
fn buffer_av<'py>(py: Python<'py>, buf: &str) -> PyResult<Bound<'py, PyDict>> {
    av(py, intern!(py, "S"), buf)
}

/// Field values looked up once per call, in declaration order; on the stack for models of
/// up to 24 fields (no allocator calls).
type Values<'py> = SmallVec<[Option<Bound<'py, PyAny>>; 24]>;

impl Schema {
    fn key_field(&self, name: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<usize>> {
        if name.is_none() {
            return Ok(None);
        }
        let index = name
            .cast::<PyString>()
            .ok()
            .and_then(|s| s.to_str().ok())
            .and_then(|s| self.by_name.get(s).copied());
        let Some(i) = index else {
            return Err(config(format!(
                "{}: {what} {} is not a field",
                self.model_name,
                name.repr().map(|r| r.to_string()).unwrap_or_default()
            )));
        };
        let field = &self.fields[i];
        if field.kind.key_encoding().is_none() {
            return Err(config(format!(
                "{}: {what} '{}' is a {} field, which cannot be part of a key",
                self.model_name,
                field.name_text,
                field.kind.name()
            )));
        }
        Ok(Some(i))
    }

    pub(crate) fn field_error(&self, py: Python<'_>, err: PyErr, i: usize) -> PyErr {
        with_field(py, err, &self.model_name, &self.fields[i].name_text)
    }

    /// The values of a dict, by field, into `out` (empty); unknown keys are a ValidationError.
    /// Filled in place: the vector is large, and moving it costs copies.
    fn lookup<'py>(&self, values: &Bound<'py, PyAny>, out: &mut Values<'py>) -> PyResult<()> {
        let Ok(dict) = values.cast::<PyDict>() else {
            return Err(CoreError::validation(format!(
                "{}: values must be a dict, got {}",
                self.model_name,
                type_name(values)
            ))
            .into());
        };
        let py = values.py();
        let found = match self.lookup_in_order(dict, out) {
            Some(found) => found,
            None => {
                out.clear();
                let mut found = 0;
                for f in &self.fields {
                    let v = dict.get_item(f.name.bind(py))?;
                    if v.is_some() {
                        found += 1;
                    }
                    out.push(v);
                }
                found
            }
        };
        if found != dict.len() {
            // Report the first key that is not a field, as the pure core does.
            for key in dict.keys() {
                let known = key
                    .cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok())
                    .is_some_and(|s| self.by_name.contains_key(s));
                if !known {
                    let shown = key.repr().map(|r| r.to_string()).unwrap_or_default();
                    return Err(CoreError {
                        kind: crate::errors::Kind::Validation,
                        message: format!("{}: unknown field {shown}", self.model_name),
                        field: key.str().ok().map(|s| s.to_string()),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// The values of a dict whose keys are the very field-name objects, in declaration order
    /// (some may be missing): what the model layer passes, and what code with literal names
    /// writes (CPython interns those). One pass over the entries, matching by identity, with no
    /// hashing; `None` (then looked up by name) as soon as a key does not match that way.
    /// Returns how many were found; `out` holds one entry per field.
    fn lookup_in_order<'py>(
        &self,
        dict: &Bound<'py, PyDict>,
        out: &mut Values<'py>,
    ) -> Option<usize> {
        let py = dict.py();
        let fields = &self.fields;
        let (mut pos, mut found) = (0, 0);
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: a live dict, GIL held, and no Python code runs in this loop; each value is
        // taken as an owned reference at once.
        while unsafe { ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
            // Fields skipped over are absent.
            loop {
                let f = fields.get(out.len())?;
                if f.name.as_ptr() == key {
                    break;
                }
                out.push(None);
            }
            out.push(Some(unsafe { Bound::from_borrowed_ptr(py, value) }));
            found += 1;
        }
        while out.len() < fields.len() {
            out.push(None);
        }
        Some(found)
    }

    fn build_templates(&mut self, py: Python<'_>) -> PyResult<()> {
        let none = py.None().into_bound(py);
        let item = PyDict::new(py);
        dict_set(&item, intern!(py, "_pk").as_any(), &none)?;
        dict_set(&item, intern!(py, "_sk").as_any(), &none)?;
        let values = PyDict::new(py);
        for f in &self.fields {
            dict_set(&item, f.name.bind(py).as_any(), &none)?;
            dict_set(&values, f.name.bind(py).as_any(), &none)?;
        }
        for index in &self.indexes {
            dict_set(&item, index.pk_attr.bind(py).as_any(), &none)?;
            dict_set(&item, index.sk_attr.bind(py).as_any(), &none)?;
        }
        if self.iteration_buckets > 0 {
            dict_set(&item, intern!(py, "_iter_pk").as_any(), &none)?;
            dict_set(&item, intern!(py, "_iter_sk").as_any(), &none)?;
        }
        self.item_template = Some(item.unbind());
        self.values_template = Some(values.unbind());
        Ok(())
    }

    /// Datetime values become epoch-ms ints once, so a datetime that is both stored and
    /// part of a key is converted a single time.
    fn datetimes_to_ms(&self, vals: &mut Values<'_>) -> PyResult<()> {
        for (i, f) in self.fields.iter().enumerate() {
            if f.kind != FieldKind::Datetime {
                continue;
            }
            let Some(v) = vals[i].as_ref() else { continue };
            if v.is_none() || v.is_exact_instance_of::<PyInt>() {
                continue;
            }
            let py = v.py();
            let ms = datetime_ms(v, "datetime").map_err(|e| self.field_error(py, e, i))?;
            let as_int = match ms {
                Num::Int(n) => n.into_pyobject(py)?.into_any(),
                _ => continue,
            };
            vals[i] = Some(as_int);
        }
        Ok(())
    }

    fn key_text<'a, 'py>(
        &self,
        i: usize,
        value: &'a Bound<'py, PyAny>,
    ) -> PyResult<KeyText<'a, 'py>> {
        let kind = self.fields[i]
            .kind
            .key_encoding()
            .unwrap_or(IndexKind::String);
        if kind == IndexKind::String {
            // The text is the value itself (what `encode_value` would copy).
            let text = key_value(value, "string key value")
                .map_err(|e| self.field_error(value.py(), e.into(), i))?;
            let object = value.is_exact_instance_of::<PyString>().then_some(value);
            return Ok(KeyText {
                text: Cow::Borrowed(text),
                object,
            });
        }
        let text = encode_value(kind, value, self.float_encoding)
            .map_err(|e| self.field_error(value.py(), e, i))?;
        Ok(KeyText {
            text: Cow::Owned(text),
            object: None,
        })
    }

    fn required_key_text<'a, 'py>(
        &self,
        py: Python<'py>,
        values: &'a Values<'py>,
        field: Option<usize>,
        what: &str,
    ) -> PyResult<Option<KeyText<'a, 'py>>> {
        let Some(i) = field else {
            return Ok(None);
        };
        match values[i].as_ref().filter(|v| !v.is_none()) {
            Some(v) => self.key_text(i, v).map(Some),
            None => Err(self.field_error(
                py,
                CoreError::validation(format!("the {what} needs a value")).into(),
                i,
            )),
        }
    }

    #[allow(clippy::type_complexity)]
    fn primary_parts<'a, 'py>(
        &self,
        py: Python<'py>,
        values: &'a Values<'py>,
    ) -> PyResult<(Option<KeyText<'a, 'py>>, Option<KeyText<'a, 'py>>)> {
        let pk = self.required_key_text(py, values, self.partition_key, "partition key")?;
        let sk = self.required_key_text(py, values, self.sort_key, "sort key")?;
        if let (Some(p), Some(i)) = (&pk, self.partition_key) {
            let p = p.text.as_ref();
            if p.contains(SK_SEPARATOR) {
                return Err(self.field_error(
                    py,
                    CoreError::validation(format!(
                        "partition key value {p:?} must not contain '{SK_SEPARATOR}'"
                    ))
                    .into(),
                    i,
                ));
            }
        }
        Ok((pk, sk))
    }

    /// `{"S": prefix}`.
    fn prefix_av<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        av_of(intern!(py, "S"), self.prefix_str.bind(py).as_any())
    }

    /// A key text over DynamoDB's limit (2048 bytes for a partition key, 1024 for a sort
    /// key) is a ValidationError naming `field` (when the key is a field's).
    fn check_key_size(
        &self,
        py: Python<'_>,
        field: Option<usize>,
        what: &str,
        text: &str,
        partition: bool,
    ) -> PyResult<()> {
        let limit = if partition {
            MAX_PARTITION_KEY_BYTES
        } else {
            MAX_SORT_KEY_BYTES
        };
        if text.len() <= limit {
            return Ok(());
        }
        let err = key_too_long(what, text, limit).into();
        Err(match field {
            Some(i) => self.field_error(py, err, i),
            None => err,
        })
    }

    /// `_pk` and `_sk`; `buf` is scratch space for the key text.
    fn key_dict<'py>(
        &self,
        py: Python<'py>,
        out: &Bound<'py, PyDict>,
        pk: Option<&str>,
        sk: Option<&KeyText<'_, 'py>>,
        tenant: Option<&str>,
        buf: &mut String,
    ) -> PyResult<()> {
        write_primary_key(buf, tenant, &self.prefix, pk);
        self.check_key_size(py, self.partition_key, "partition key", buf, true)?;
        dict_set(
            out,
            intern!(py, "_pk").as_any(),
            buffer_av(py, buf)?.as_any(),
        )?;
        let sk_av = match sk {
            Some(k) => {
                self.check_key_size(py, self.sort_key, "sort key", &k.text, false)?;
                k.av(py)?
            }
            None => self.prefix_av(py)?,
        };
        dict_set(out, intern!(py, "_sk").as_any(), sk_av.as_any())?;
        Ok(())
    }

    fn add_index_keys<'py>(
        &self,
        py: Python<'py>,
        values: &Values<'py>,
        tenant: Option<&str>,
        out: &Bound<'py, PyDict>,
        prune: bool,
        buf: &mut String,
    ) -> PyResult<()> {
        for index in &self.indexes {
            let side = |f: Option<usize>| match f {
                None => Some(None),
                Some(i) => values[i].as_ref().filter(|v| !v.is_none()).map(Some),
            };
            // Sparse index: written only when both sides have a value.
            let (Some(pk_value), Some(sk_value)) = (side(index.pk), side(index.sk)) else {
                if prune {
                    dict_del(out, index.pk_attr.bind(py).as_any())?;
                    dict_del(out, index.sk_attr.bind(py).as_any())?;
                }
                continue;
            };
            let pk_text = match (index.pk, pk_value) {
                (Some(i), Some(v)) => self.key_text(i, v)?,
                _ => KeyText::of_text(&self.prefix),
            };
            write_gsi_key(buf, tenant, &self.prefix, &index.id, &pk_text.text);
            let what = format!("{} partition key", index.id);
            self.check_key_size(py, index.pk, &what, buf, true)?;
            dict_set(
                out,
                index.pk_attr.bind(py).as_any(),
                buffer_av(py, buf)?.as_any(),
            )?;
            let sk_av = match (index.sk, sk_value) {
                (Some(i), Some(v)) => {
                    let text = self.key_text(i, v)?;
                    let what = format!("{} sort key", index.id);
                    self.check_key_size(py, index.sk, &what, &text.text, false)?;
                    text.av(py)?
                }
                _ => self.prefix_av(py)?,
            };
            dict_set(out, index.sk_attr.bind(py).as_any(), sk_av.as_any())?;
        }
        Ok(())
    }

    /// The primary id of the item whose key parts these are: a part itself when the other is
    /// absent (its `str` object included), else `pk##__SK__##sk`.
    fn id_of<'a, 'py>(
        pk: &Option<KeyText<'a, 'py>>,
        sk: &Option<KeyText<'a, 'py>>,
    ) -> KeyText<'a, 'py> {
        match (pk, sk) {
            (Some(p), None) => p.clone(),
            (None, Some(s)) => s.clone(),
            _ => KeyText {
                text: Cow::Owned(primary_id(text_of(pk), text_of(sk))),
                object: None,
            },
        }
    }

    fn add_iteration_keys<'py>(
        &self,
        py: Python<'py>,
        id: &KeyText<'_, 'py>,
        tenant: Option<&str>,
        out: &Bound<'py, PyDict>,
        buf: &mut String,
    ) -> PyResult<()> {
        let bucket = bucket_of(&id.text, self.iteration_buckets);
        // The iteration index's sort key is the primary id.
        self.check_key_size(
            py,
            self.partition_key.or(self.sort_key),
            "primary id (the iteration sort key)",
            &id.text,
            false,
        )?;
        write_iteration_key(buf, tenant, &self.prefix, bucket, self.iteration_buckets);
        dict_set(
            out,
            intern!(py, "_iter_pk").as_any(),
            buffer_av(py, buf)?.as_any(),
        )?;
        dict_set(out, intern!(py, "_iter_sk").as_any(), id.av(py)?.as_any())?;
        Ok(())
    }

    /// Stored form of one field value; `None` when nothing is to be stored (empty set).
    fn field_to_av<'py>(
        &self,
        i: usize,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let py = value.py();
        self.field_to_av_inner(self.fields[i].kind, value)
            .map_err(|e| self.field_error(py, e, i))
    }

    fn field_to_av_inner<'py>(
        &self,
        kind: FieldKind,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let py = value.py();
        // Fast paths for exact built-in types (no subclass checks, which cost function calls
        // under the stable ABI).
        match kind {
            FieldKind::String if value.is_exact_instance_of::<PyString>() => {
                utf8_len(value)?;
                return Ok(Some(av_of(intern!(py, "S"), value)?));
            }
            FieldKind::Integer | FieldKind::Datetime if value.is_exact_instance_of::<PyInt>() => {
                if let Ok(n) = value.extract::<i64>() {
                    return Ok(Some(num_av(py, &Num::Int(n))?));
                }
            }
            FieldKind::Float | FieldKind::Decimal if value.is_exact_instance_of::<PyFloat>() => {
                return Ok(Some(num_av(py, &Num::Float(value.extract::<f64>()?))?));
            }
            FieldKind::Boolean if value.is_exact_instance_of::<PyBool>() => {
                return Ok(Some(av_of(intern!(py, "BOOL"), value)?));
            }
            FieldKind::Binary if value.is_exact_instance_of::<PyBytes>() => {
                return Ok(Some(av_of(intern!(py, "B"), value)?));
            }
            FieldKind::Map if value.is_exact_instance_of::<PyDict>() => {
                // SAFETY: just checked.
                return Ok(Some(map_to_av(
                    unsafe { value.cast_unchecked::<PyDict>() },
                    0,
                )?));
            }
            FieldKind::Float | FieldKind::Decimal => {
                // An exact Decimal: its str object itself is the `N` text (as generic
                // marshalling stores it), no copy of the text.
                // SAFETY: a live object; the type is held by `decimal_type`'s cache.
                let ty = unsafe { ffi::Py_TYPE(value.as_ptr()) };
                if ty == decimal_type(py)?.as_type_ptr() {
                    return Ok(Some(decimal_av(value)?));
                }
            }
            _ => {}
        }
        let wrong = |expected: &str| -> PyErr {
            CoreError::validation(format!("expected {expected}, got {}", type_name(value))).into()
        };
        let n = |num: &Num| -> PyResult<Option<Bound<'py, PyDict>>> { Ok(Some(num_av(py, num)?)) };
        match kind {
            FieldKind::String => {
                if value.is_instance_of::<PyString>() {
                    utf8_len(value)?;
                    Ok(Some(av(py, intern!(py, "S"), value)?))
                } else {
                    Err(wrong("str"))
                }
            }
            FieldKind::Integer => {
                if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
                    return Err(wrong("int"));
                }
                match number_of(value)? {
                    Some(num) => n(&num),
                    None => Err(wrong("int")),
                }
            }
            FieldKind::Float | FieldKind::Decimal => {
                if value.is_instance_of::<PyBool>() {
                    return Err(CoreError::validation("expected a number, got bool").into());
                }
                match number_of(value)? {
                    Some(num) => n(&num),
                    None => Err(CoreError::validation(format!(
                        "expected a number, got {}",
                        type_name(value)
                    ))
                    .into()),
                }
            }
            FieldKind::Boolean => {
                if value.is_instance_of::<PyBool>() {
                    Ok(Some(av(py, intern!(py, "BOOL"), value)?))
                } else {
                    Err(wrong("bool"))
                }
            }
            FieldKind::Datetime => n(&datetime_ms(value, "datetime")?),
            FieldKind::Ttl => {
                if value.is_instance(crate::py_types::datetime_type(py)?)? {
                    let ms = datetime_ms(value, "datetime")?;
                    let secs = match ms {
                        Num::Int(m) => Num::Int(m.div_euclid(1000)),
                        _ => return Err(CoreError::validation("datetime is out of range").into()),
                    };
                    return n(&secs);
                }
                if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
                    return match number_of(value)? {
                        Some(num) => n(&num),
                        None => Err(wrong("int")),
                    };
                }
                Err(CoreError::validation(format!(
                    "expected an aware datetime or epoch seconds (int), got {}",
                    type_name(value)
                ))
                .into())
            }
            FieldKind::Binary => {
                if is_bytes_like(value) {
                    Ok(Some(av(py, intern!(py, "B"), to_bytes(value)?)?))
                } else {
                    Err(wrong("bytes"))
                }
            }
            FieldKind::StringSet => string_set_to_av(value),
            FieldKind::Map => {
                if value.is_instance_of::<PyDict>() {
                    Ok(Some(to_av(value, 0)?))
                } else {
                    Err(wrong("dict"))
                }
            }
            FieldKind::List => {
                if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
                    Ok(Some(to_av(value, 0)?))
                } else {
                    Err(wrong("list"))
                }
            }
            FieldKind::Any => Ok(Some(to_av(value, 0)?)),
        }
    }

    fn field_from_av_inner<'py>(
        &self,
        kind: FieldKind,
        item_av: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = item_av.py();
        let (tag, v) = av_parts(item_av)?;
        if tag == Tag::Null {
            return Ok(py.None().into_bound(py));
        }
        match (kind, tag) {
            (FieldKind::String, Tag::S)
                if v.is_exact_instance_of::<PyString>() || v.is_instance_of::<PyString>() =>
            {
                return Ok(v.to_owned())
            }
            (FieldKind::Integer, Tag::N) => {
                // The usual text (up to 18 digits) in one pass; the rest is checked in full.
                if let Some(QuickNumber::Int(n)) = quick_number(raw_number_text(&v)?) {
                    return Ok(n.into_pyobject(py)?.into_any());
                }
                let t = number_text(&v)?;
                if is_int_literal(t) {
                    return int_from_text(py, t);
                }
                return Err(CoreError::validation(format!(
                    "stored number {t:?} is not an integer"
                ))
                .into());
            }
            (FieldKind::Float, Tag::N) => {
                // An i64 converts to the nearest double, as parsing its text does.
                return match quick_number(raw_number_text(&v)?) {
                    Some(QuickNumber::Float(x)) => Ok(PyFloat::new(py, x).into_any()),
                    Some(QuickNumber::Int(n)) => Ok(PyFloat::new(py, n as f64).into_any()),
                    None => float_from_text(py, number_text(&v)?),
                };
            }
            (FieldKind::Decimal, Tag::N) => return decimal_from_text(py, number_text(&v)?),
            (FieldKind::Boolean, Tag::Bool) if v.is_instance_of::<PyBool>() => {
                return Ok(v.to_owned())
            }
            (FieldKind::Datetime | FieldKind::Ttl, Tag::N) => {
                return stored_timestamp(py, kind, number_text(&v)?);
            }
            (FieldKind::Binary, Tag::B) => return binary_from_av(&v),
            (FieldKind::StringSet, Tag::Ss)
            | (FieldKind::Map, Tag::M)
            | (FieldKind::List, Tag::L)
            | (FieldKind::Any, _) => return value_of(tag, v.to_owned(), 0),
            _ => {}
        }
        Err(misfit(tag, kind))
    }

    fn item_values<'py>(&self, item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = item.py();
        let Ok(item) = item.cast::<PyDict>() else {
            return Err(CoreError::validation(format!(
                "{}: an item must be a dict, got {}",
                self.model_name,
                type_name(item)
            ))
            .into());
        };
        let out = copy_dict(py, &self.values_template)?;
        for (i, f) in self.fields.iter().enumerate() {
            let name = f.name.bind(py).as_any();
            // SAFETY: a live dict and key, GIL held. The borrowed result is made an owned
            // reference at once: converting it may run Python code (a Decimal, a datetime).
            let found = unsafe {
                let a = ffi::PyDict_GetItemWithError(item.as_ptr(), name.as_ptr());
                (!a.is_null()).then(|| Bound::from_borrowed_ptr(py, a))
            };
            match found.filter(|a| !a.is_none()) {
                Some(a) => {
                    let value = match quick_from_av(f.kind, &a) {
                        Some(v) => v,
                        None => match self.field_from_av_inner(f.kind, &a) {
                            Ok(v) => v,
                            Err(e) => return Err(self.misfit_of_av(item, i, &a, e)),
                        },
                    };
                    dict_set(&out, name, &value)?
                }
                None => {
                    if let Some(err) = PyErr::take(py) {
                        return Err(err);
                    }
                    dict_del(&out, name)?
                }
            }
        }
        Ok(out)
    }
}

/// What a stored attribute that does not fit its field holds, in the words of the error.
pub(crate) enum Stored<'a> {
    /// Not an AttributeValue of a known type with a value of the right type.
    Malformed,
    /// `S` or `N` text.
    Text(Tag, &'a str),
    Bool(bool),
    /// Any other well-formed type.
    Other(Tag),
}

/// What a field of each kind expects, in the words of a misfit error (as the pure core's
/// `_EXPECTED`).
fn expected(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::String => "a string (S)",
        FieldKind::Integer => "an integer (N)",
        FieldKind::Float | FieldKind::Decimal => "a number (N)",
        FieldKind::Boolean => "a boolean (BOOL)",
        FieldKind::Datetime => "epoch milliseconds (N)",
        FieldKind::Ttl => "epoch seconds (N)",
        FieldKind::Binary => "binary data (B)",
        FieldKind::StringSet => "a string set (SS)",
        FieldKind::Map => "a map (M)",
        FieldKind::List => "a list (L)",
        FieldKind::Any => "a readable AttributeValue",
    }
}

/// The AttributeValue type a field kind is stored as (`None`: any).
fn kind_tag(kind: FieldKind) -> Option<Tag> {
    Some(match kind {
        FieldKind::String => Tag::S,
        FieldKind::Integer
        | FieldKind::Float
        | FieldKind::Decimal
        | FieldKind::Datetime
        | FieldKind::Ttl => Tag::N,
        FieldKind::Boolean => Tag::Bool,
        FieldKind::Binary => Tag::B,
        FieldKind::StringSet => Tag::Ss,
        FieldKind::Map => Tag::M,
        FieldKind::List => Tag::L,
        FieldKind::Any => return None,
    })
}

/// Stored text shown in an error: at most 40 characters.
fn preview(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((at, _)) => Cow::Owned(format!("{}...", &text[..at])),
        None => Cow::Borrowed(text),
    }
}

/// The `S` text of an AttributeValue dict, if it is one (for error messages only).
fn s_text(av: &Bound<'_, PyAny>) -> Option<String> {
    match av_parts(av).ok()? {
        (Tag::S, v) => str_text(&v).map(str::to_owned),
        _ => None,
    }
}

impl Schema {
    /// The public id of a stored item from its `_pk`/`_sk` texts: the tenant and model prefix
    /// taken off; `None` when they are not this model's keys (`_pure.Schema._id_of_keys`).
    pub(crate) fn id_of_keys(&self, pk: &str, sk: &str) -> Option<String> {
        let mut pk = pk;
        if pk.starts_with('[') {
            let end = pk.find("]#")?; // tenant ids hold no "]"
            pk = &pk[end + 2..];
        }
        let rest = pk.strip_prefix(self.prefix.as_str())?;
        let pk_value = if self.partition_key.is_none() {
            if !rest.is_empty() {
                return None;
            }
            None
        } else {
            match rest.strip_prefix('#') {
                Some(v) if !v.is_empty() => Some(v),
                _ => return None,
            }
        };
        if self.sort_key.is_none() {
            if sk != self.prefix {
                return None;
            }
            return pk_value.map(str::to_owned);
        }
        if sk.is_empty() {
            return None;
        }
        Some(match pk_value {
            None => sk.to_owned(),
            Some(p) => format!("{p}{SK_SEPARATOR}{sk}"),
        })
    }

    /// The error of stored attribute `i` that does not fit its field (the cold path): it names
    /// the item, the attribute, what is stored and what the field expects, word for word as
    /// the pure core's `Schema._misfit`. `err` is why reading failed; other errors than a
    /// ValidationError pass through.
    #[cold]
    pub(crate) fn misfit_error(
        &self,
        py: Python<'_>,
        i: usize,
        primary_id: Option<String>,
        stored: Stored<'_>,
        err: PyErr,
    ) -> PyErr {
        if !is_validation_error(py, &err) {
            return err;
        }
        let field = &self.fields[i];
        let kind = field.kind;
        let (what, tag) = match stored {
            Stored::Malformed => ("a malformed AttributeValue".to_owned(), None),
            Stored::Text(tag, t) => (format!("{} '{}'", tag.name(), preview(t)), Some(tag)),
            Stored::Bool(b) => (format!("BOOL {b}"), Some(Tag::Bool)),
            Stored::Other(tag) if kind == FieldKind::Any || kind_tag(kind) == Some(tag) => {
                let reason = err
                    .value(py)
                    .str()
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                (
                    format!("{} that cannot be read ({reason})", tag.name()),
                    Some(tag),
                )
            }
            Stored::Other(tag) => (tag.name().to_owned(), Some(tag)),
        };
        let who = match &primary_id {
            Some(id) => format!("'{id}'"),
            None => "(id unknown)".to_owned(),
        };
        let message = format!(
            "{} item {who}: attribute '{}' holds {what}; its {} field expects {}",
            self.model_name,
            field.name_text,
            kind.name(),
            expected(kind)
        );
        stored_misfit(
            py,
            message,
            &field.name_text,
            primary_id.as_deref(),
            tag.map(Tag::name),
        )
    }

    /// [`Schema::misfit_error`] of attribute `i`'s AttributeValue dict `a` in `item`.
    #[cold]
    fn misfit_of_av(
        &self,
        item: &Bound<'_, PyDict>,
        i: usize,
        a: &Bound<'_, PyAny>,
        err: PyErr,
    ) -> PyErr {
        let py = item.py();
        let primary_id = self.stored_id_of(item);
        let mut text = String::new();
        let stored = match av_parts(a) {
            Err(_) => Stored::Malformed,
            Ok((tag, v)) => match tag {
                Tag::S | Tag::N => match str_text(&v) {
                    Some(t) => {
                        text.push_str(t);
                        Stored::Text(tag, &text)
                    }
                    None => Stored::Malformed,
                },
                Tag::Bool => match v.cast::<PyBool>() {
                    Ok(b) => Stored::Bool(b.is_true()),
                    Err(_) => Stored::Malformed,
                },
                Tag::Null => Stored::Other(tag),
                Tag::B if is_bytes_like(&v) => Stored::Other(tag),
                Tag::M if v.is_instance_of::<PyDict>() => Stored::Other(tag),
                Tag::L | Tag::Ss | Tag::Ns | Tag::Bs if v.is_instance_of::<PyList>() => {
                    Stored::Other(tag)
                }
                _ => Stored::Malformed,
            },
        };
        self.misfit_error(py, i, primary_id, stored, err)
    }

    /// The public id of a stored item (a dict of AttributeValues), from its `_pk`/`_sk`.
    fn stored_id_of(&self, item: &Bound<'_, PyDict>) -> Option<String> {
        let py = item.py();
        let pk = item.get_item(intern!(py, "_pk")).ok()??;
        let sk = item.get_item(intern!(py, "_sk")).ok()??;
        self.id_of_keys(&s_text(&pk)?, &s_text(&sk)?)
    }
}

/// The commonest stored forms, read without the general dispatch: an exact one-entry dict
/// keyed by the one-letter tag the field kind expects (one-character strs are CPython
/// singletons, whoever parsed the item, so the tag matches by pointer), holding an exact str
/// (`S`) or the usual number text (`N`). `None` leaves everything else, errors included, to
/// the general path, which gives the same value for these forms.
#[inline]
fn quick_from_av<'py>(kind: FieldKind, a: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    let py = a.py();
    let tag = match kind {
        FieldKind::String => intern!(py, "S"),
        FieldKind::Integer | FieldKind::Float => intern!(py, "N"),
        FieldKind::Binary => intern!(py, "B"),
        FieldKind::Boolean => intern!(py, "BOOL"),
        _ => return None,
    };
    if !a.is_exact_instance_of::<PyDict>() {
        return None;
    }
    let (mut pos, mut key, mut value) = (0, std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: an exact dict, GIL held. The entry is borrowed and only read here, where no
    // Python code runs; a value returned is made an owned reference first.
    let value = unsafe {
        if ffi::PyDict_Size(a.as_ptr()) != 1
            || ffi::PyDict_Next(a.as_ptr(), &mut pos, &mut key, &mut value) == 0
        {
            return None;
        }
        // `BOOL` is no singleton: parsed items have their own copies, matched by text.
        if key != tag.as_ptr()
            && !(kind == FieldKind::Boolean
                && str_text(&pyo3::Borrowed::from_ptr(py, key)) == Some("BOOL"))
        {
            return None;
        }
        pyo3::Borrowed::from_ptr(py, value)
    };
    match kind {
        FieldKind::Boolean if value.is_exact_instance_of::<PyBool>() => {
            return Some(value.to_owned())
        }
        FieldKind::Binary if value.is_exact_instance_of::<PyBytes>() => {
            return Some(value.to_owned())
        }
        _ if !value.is_exact_instance_of::<PyString>() => return None,
        FieldKind::String => return Some(value.to_owned()),
        _ => {}
    }
    let text = str_text(&value)?;
    let number = match (kind, quick_number(text)?) {
        (FieldKind::Integer, QuickNumber::Int(n)) => n.into_pyobject(py).ok()?.into_any(),
        (FieldKind::Float, QuickNumber::Int(n)) => PyFloat::new(py, n as f64).into_any(),
        (FieldKind::Float, QuickNumber::Float(x)) => PyFloat::new(py, x).into_any(),
        _ => return None,
    };
    Some(number)
}

fn string_set_to_av<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = value.py();
    let is_set = value.is_instance_of::<PySet>() || value.is_instance_of::<PyFrozenSet>();
    let is_seq = value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>();
    if !is_set && !is_seq {
        return Err(CoreError::validation(format!(
            "expected a set of str, got {}",
            type_name(value)
        ))
        .into());
    }
    if value.is_exact_instance_of::<PySet>() || value.is_exact_instance_of::<PyFrozenSet>() {
        return exact_set_to_ss(value);
    }
    let members: Vec<Bound<'py, PyAny>> = value.try_iter()?.collect::<PyResult<_>>()?;
    for m in &members {
        if !m.is_instance_of::<PyString>() {
            return Err(CoreError::validation(format!(
                "set members must be str, got {}",
                type_name(m)
            ))
            .into());
        }
        utf8_len(m)?;
    }
    let members = if is_set {
        members
    } else {
        // A list keeps its order (first occurrence wins), as DynamoBao does.
        let seen = PySet::empty(py)?;
        let mut unique = Vec::with_capacity(members.len());
        for m in members {
            if !seen.contains(&m)? {
                seen.add(&m)?;
                unique.push(m);
            }
        }
        unique
    };
    if members.is_empty() {
        return Ok(None);
    }
    Ok(Some(av(py, intern!(py, "SS"), PyList::new(py, members)?)?))
}

#[pymethods]
impl Schema {
    #[new]
    #[pyo3(signature = (model_name, prefix, fields, partition_key, sort_key = None, indexes = None, iteration_buckets = None, float_encoding = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model_name: &Bound<'_, PyAny>,
        prefix: &Bound<'_, PyAny>,
        fields: &Bound<'_, PyAny>,
        partition_key: &Bound<'_, PyAny>,
        sort_key: Option<&Bound<'_, PyAny>>,
        indexes: Option<&Bound<'_, PyAny>>,
        iteration_buckets: Option<&Bound<'_, PyAny>>,
        float_encoding: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let model_name = model_name
            .cast::<PyString>()
            .ok()
            .and_then(|s| s.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| config("invalid model name".to_owned()))?;
        let prefix = prefix_of(prefix)?;
        let float_encoding = match float_encoding {
            Some(f) => FloatEncoding::parse(f)?,
            None => FloatEncoding::Sortable,
        };
        let prefix_str = PyString::new(py, &prefix).unbind();
        let mut schema = Schema {
            model_name,
            prefix,
            prefix_str,
            fields: Vec::new(),
            by_name: HashMap::new(),
            partition_key: None,
            sort_key: None,
            indexes: Vec::new(),
            iteration_buckets: 0,
            float_encoding,
            item_template: None,
            values_template: None,
        };
        let model = schema.model_name.clone();
        for entry in fields
            .try_iter()
            .map_err(|_| config(format!("{model}: fields must be (name, kind) pairs")))?
        {
            let entry = entry?;
            let Some(pair) = two_items(&entry, 2) else {
                return Err(config(format!(
                    "{model}: fields must be (name, kind) pairs"
                )));
            };
            let name = pair[0]
                .cast::<PyString>()
                .ok()
                .and_then(|s| s.to_str().ok())
                .filter(|s| !s.is_empty() && !s.starts_with('_'))
                .map(str::to_owned)
                .ok_or_else(|| {
                    config(format!(
                        "{model}: invalid field name (names starting with _ are reserved)"
                    ))
                })?;
            let kind = pair[1]
                .cast::<PyString>()
                .ok()
                .and_then(|s| s.to_str().ok())
                .and_then(FieldKind::parse)
                .ok_or_else(|| config(format!("{model}.{name}: unknown field kind")))?;
            if schema.by_name.contains_key(&name) {
                return Err(config(format!("{model}: duplicate field '{name}'")));
            }
            schema.by_name.insert(name.clone(), schema.fields.len());
            schema.fields.push(Field {
                name: PyString::intern(py, &name).unbind(),
                name_text: name,
                kind,
            });
        }
        let sort_key_none = sort_key.is_none_or(|s| s.is_none());
        if partition_key.is_none() && sort_key_none {
            return Err(config(format!(
                "{model}: partition key and sort key cannot both be the model prefix"
            )));
        }
        schema.partition_key = schema.key_field(partition_key, "partition key")?;
        schema.sort_key = match sort_key {
            Some(s) => schema.key_field(s, "sort key")?,
            None => None,
        };
        if let Some(indexes) = indexes.filter(|i| !i.is_none()) {
            let mut seen: Vec<String> = Vec::new();
            let bad = || {
                config(format!(
                    "{model}: indexes must be (index_id, pk, sk) triples"
                ))
            };
            for entry in indexes.try_iter().map_err(|_| bad())? {
                let entry = entry?;
                let Some(triple) = two_items(&entry, 3) else {
                    return Err(bad());
                };
                let id = triple[0]
                    .cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok())
                    .map(str::to_owned)
                    .unwrap_or_default();
                check_index_id(&id).map_err(|e| config(format!("{model}: {}", e.message)))?;
                if seen.contains(&id) {
                    return Err(config(format!("{model}: index id {id} used twice")));
                }
                seen.push(id.clone());
                let pk = schema.key_field(&triple[1], &format!("index {id} partition key"))?;
                let sk = schema.key_field(&triple[2], &format!("index {id} sort key"))?;
                schema.indexes.push(IndexDef {
                    pk_attr: PyString::intern(py, &format!("_{id}_pk")).unbind(),
                    sk_attr: PyString::intern(py, &format!("_{id}_sk")).unbind(),
                    id,
                    pk,
                    sk,
                });
            }
        }
        if let Some(b) = iteration_buckets.filter(|b| !b.is_none()) {
            let n = if b.is_instance_of::<PyBool>() || !b.is_instance_of::<PyInt>() {
                None
            } else {
                b.extract::<i64>().ok()
            };
            schema.iteration_buckets = match n {
                Some(0) => 0,
                Some(n) => check_buckets(n)?,
                None => {
                    return Err(config(format!(
                        "iteration buckets must be an int between 1 and 1000, got {}",
                        type_name(b)
                    )))
                }
            };
        }
        schema.build_templates(py)?;
        Ok(schema)
    }

    #[getter]
    fn model_name(&self) -> &str {
        &self.model_name
    }

    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    #[getter]
    fn field_names<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.fields.iter().map(|f| f.name.bind(py)))
    }

    #[getter]
    fn partition_key(&self) -> Option<&str> {
        self.partition_key
            .map(|i| self.fields[i].name_text.as_str())
    }

    #[getter]
    fn sort_key(&self) -> Option<&str> {
        self.sort_key.map(|i| self.fields[i].name_text.as_str())
    }

    #[getter]
    fn indexes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let name = |f: Option<usize>| f.map(|i| self.fields[i].name_text.clone());
        let items: Vec<(String, Option<String>, Option<String>)> = self
            .indexes
            .iter()
            .map(|x| (x.id.clone(), name(x.pk), name(x.sk)))
            .collect();
        PyTuple::new(py, items)
    }

    #[getter]
    fn iteration_buckets(&self) -> u32 {
        self.iteration_buckets
    }

    #[getter]
    fn float_encoding(&self) -> &'static str {
        self.float_encoding.name()
    }

    fn __repr__(&self) -> String {
        format!(
            "<Schema {} prefix='{}' fields={}>",
            self.model_name,
            self.prefix,
            self.fields.len()
        )
    }

    /// The whole item: stored fields (None and empty sets omitted), keys, GSI keys (where
    /// both sides have a value) and iteration keys.
    fn to_item<'py>(
        &self,
        values: &Bound<'py, PyAny>,
        tenant: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = values.py();
        let mut vals = Values::new();
        self.lookup(values, &mut vals)?;
        let tenant = optional_tenant(tenant)?;
        self.datetimes_to_ms(&mut vals)?;
        let (pk, sk) = self.primary_parts(py, &vals)?;
        let item = copy_dict(py, &self.item_template)?;
        let mut buf = String::with_capacity(128);
        self.key_dict(py, &item, text_of(&pk), sk.as_ref(), tenant, &mut buf)?;
        for (i, v) in vals.iter().enumerate() {
            let name = self.fields[i].name.bind(py).as_any();
            let stored = match v.as_ref().filter(|v| !v.is_none()) {
                Some(v) => self.field_to_av(i, v)?,
                None => None,
            };
            match stored {
                Some(a) => dict_set(&item, name, a.as_any())?,
                None => dict_del(&item, name)?,
            }
        }
        self.add_index_keys(py, &vals, tenant, &item, true, &mut buf)?;
        if self.iteration_buckets > 0 {
            let id = Self::id_of(&pk, &sk);
            self.add_iteration_keys(py, &id, tenant, &item, &mut buf)?;
        }
        Ok(item)
    }

    /// Stored form of the given fields only (`None` → `{"NULL": True}`).
    fn marshal_fields<'py>(&self, values: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let py = values.py();
        self.lookup(values, &mut Values::new())?;
        let out = PyDict::new(py);
        let dict = values.cast::<PyDict>()?;
        for (k, v) in dict.iter() {
            let i = self.by_name[k.cast::<PyString>()?.to_str()?];
            let a = if v.is_none() {
                None
            } else {
                self.field_to_av(i, &v)?
            };
            let a = match a {
                Some(a) => a,
                None => av(py, intern!(py, "NULL"), true)?,
            };
            out.set_item(k, a)?;
        }
        Ok(out)
    }

    /// The public id of the item these values describe.
    fn primary_id(&self, values: &Bound<'_, PyAny>) -> PyResult<String> {
        let mut vals = Values::new();
        self.lookup(values, &mut vals)?;
        let (pk, sk) = self.primary_parts(values.py(), &vals)?;
        Ok(primary_id(text_of(&pk), text_of(&sk)))
    }

    /// `{"_pk": ..., "_sk": ...}` of the item these values describe.
    fn key<'py>(
        &self,
        values: &Bound<'py, PyAny>,
        tenant: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = values.py();
        let mut vals = Values::new();
        self.lookup(values, &mut vals)?;
        let tenant = optional_tenant(tenant)?;
        let (pk, sk) = self.primary_parts(py, &vals)?;
        let out = PyDict::new(py);
        let mut buf = String::new();
        self.key_dict(py, &out, text_of(&pk), sk.as_ref(), tenant, &mut buf)?;
        Ok(out)
    }

    /// `{"_pk": ..., "_sk": ...}` of the item with this primary id.
    fn key_from_id<'py>(
        &self,
        primary_id: &Bound<'py, PyAny>,
        tenant: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = primary_id.py();
        let tenant = optional_tenant(tenant)?;
        let id = crate::keys::key_value(primary_id, "primary id")?;
        let out = PyDict::new(py);
        let mut buf = String::new();
        if self.partition_key.is_none() {
            let sk = KeyText::of_text(id);
            self.key_dict(py, &out, None, Some(&sk), tenant, &mut buf)?;
        } else {
            let (pk, sk) = split_primary_id(id, self.sort_key.is_some())?;
            let sk = sk.map(KeyText::of_text);
            self.key_dict(py, &out, Some(pk), sk.as_ref(), tenant, &mut buf)?;
        }
        Ok(out)
    }

    /// GSI keys computable from the values (both sides present) and iteration keys.
    fn index_keys<'py>(
        &self,
        values: &Bound<'py, PyAny>,
        tenant: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = values.py();
        let mut vals = Values::new();
        self.lookup(values, &mut vals)?;
        let tenant = optional_tenant(tenant)?;
        let out = PyDict::new(py);
        let mut buf = String::new();
        self.add_index_keys(py, &vals, tenant, &out, false, &mut buf)?;
        if self.iteration_buckets > 0 {
            let (pk, sk) = self.primary_parts(py, &vals)?;
            let id = Self::id_of(&pk, &sk);
            self.add_iteration_keys(py, &id, tenant, &out, &mut buf)?;
        }
        Ok(out)
    }

    /// Field values of a stored item; attributes that are not fields are ignored.
    #[pyo3(name = "from_item")]
    fn read_item<'py>(&self, item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        self.item_values(item)
    }

    /// The public id of a stored item, from its `_pk`/`_sk` (tenant and model prefix taken
    /// off); `None` when they are missing or not this model's keys.
    fn stored_primary_id(&self, item: &Bound<'_, PyAny>) -> Option<String> {
        self.stored_id_of(item.cast::<PyDict>().ok()?)
    }

    /// `from_item` over a whole page of items.
    #[pyo3(name = "from_items")]
    fn read_items<'py>(&self, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = items.py();
        let Ok(items) = items.cast::<PyList>() else {
            return Err(CoreError::validation(format!(
                "{}: items must be a list, got {}",
                self.model_name,
                type_name(items)
            ))
            .into());
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            out.push(self.item_values(&item)?);
        }
        PyList::new(py, out)
    }

    /// `value` encoded as field `field` is in keys (for key conditions).
    fn encode_key_value(
        &self,
        field: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let index = field
            .cast::<PyString>()
            .ok()
            .and_then(|s| text(s, "field").ok())
            .and_then(|s| self.by_name.get(s).copied());
        let Some(i) = index else {
            return Err(CoreError::validation(format!(
                "{}: unknown field {}",
                self.model_name,
                field.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
            .into());
        };
        if self.fields[i].kind.key_encoding().is_none() {
            return Err(CoreError::validation(format!(
                "{}.{}: a {} field cannot be part of a key",
                self.model_name,
                self.fields[i].name_text,
                self.fields[i].kind.name()
            ))
            .into());
        }
        self.key_text(i, value).map(|k| k.text.into_owned())
    }
}

/// A stored date (epoch milliseconds) or TTL (epoch seconds) `N` text as an aware `datetime`.
pub(crate) fn stored_timestamp<'py>(
    py: Python<'py>,
    kind: FieldKind,
    t: &str,
) -> PyResult<Bound<'py, PyAny>> {
    if !is_int_literal(t) {
        return Err(
            CoreError::validation(format!("stored timestamp {t:?} is not an integer")).into(),
        );
    }
    let ms = t.parse::<i64>().ok().and_then(|n| {
        if kind == FieldKind::Datetime {
            Some(n)
        } else {
            n.checked_mul(1000)
        }
    });
    match ms.map(|ms| datetime_from_ms(py, ms)).transpose()?.flatten() {
        Some(dt) => Ok(dt),
        None => {
            Err(CoreError::validation(format!("stored timestamp {t:?} is out of range")).into())
        }
    }
}

/// A stored attribute whose type does not fit its field's kind.
pub(crate) fn misfit(tag: Tag, kind: FieldKind) -> PyErr {
    CoreError::validation(format!(
        "stored attribute of type {} does not fit a {} field",
        tag.name(),
        kind.name()
    ))
    .into()
}

/// [`string_set_to_av`] of an exact set: its members listed by one C call (the list is what
/// is stored), then type-checked in place.
fn exact_set_to_ss<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = value.py();
    // SAFETY: a live set, GIL held; PySequence_List returns a new reference or NULL.
    let list = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PySequence_List(value.as_ptr()))?
            .cast_into_unchecked::<PyList>()
    };
    let n = list.len();
    if n == 0 {
        return Ok(None);
    }
    for i in 0..n {
        // SAFETY: our own new list, GIL held; PyList_GetItem bounds-checks and returns a
        // borrowed reference (or NULL with IndexError set), read at once by type checks that
        // run no Python code.
        let m = unsafe {
            pyo3::Borrowed::from_ptr_or_err(py, ffi::PyList_GetItem(list.as_ptr(), i as isize))?
        };
        if !(m.is_exact_instance_of::<PyString>() || m.is_instance_of::<PyString>()) {
            return Err(CoreError::validation(format!(
                "set members must be str, got {}",
                type_name(&m)
            ))
            .into());
        }
        utf8_len(&m)?;
    }
    Ok(Some(av_of(intern!(py, "SS"), list.as_any())?))
}
