//! Generic marshalling: Python values <-> DynamoDB AttributeValues in boto3's low-level form
//! (`{"S": ...}`, `{"N": "..."}`, `{"M": {...}}`; `B`/`BS` hold raw bytes), and DynamoDB's
//! size of an item (`item_size`). Stored text must have a UTF-8 form (no lone surrogates) and
//! map keys may not be empty, as in the pure core, whose docstring has the rules.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{
    PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet,
    PyString, PyTuple,
};
use pyo3::Borrowed;
use pyo3::IntoPyObjectExt;

use pyo3::ffi;
use pyo3::sync::PyOnceLock;
use smallvec::SmallVec;

use crate::errors::CoreError;
use crate::number::{check_number_text, n_text, number_of, split_number, with_n_text, Num};
use crate::py_types::{decimal_type, type_name};

/// DynamoDB's nesting limit: documents may be at most 32 containers deep.
pub const MAX_DEPTH: usize = 32;

fn too_deep() -> PyErr {
    CoreError::validation(format!("value is nested deeper than {MAX_DEPTH} levels")).into()
}

pub(crate) fn lone_surrogate() -> PyErr {
    CoreError::validation("text contains a lone surrogate (not valid Unicode, cannot be stored)")
        .into()
}

/// The UTF-8 length of a `str` (or subclass), from CPython's UTF-8 form (for ASCII text the
/// text itself, else made once and cached in the object, where the fast wire path's writer
/// finds it again). Text with no UTF-8 form (a lone surrogate) is a ValidationError: botocore
/// would send it escaped and DynamoDB answer with a server error.
#[inline]
pub(crate) fn utf8_len(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: a live str, GIL held; NULL with an exception set when the text cannot be encoded.
    let p = unsafe { ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len) };
    if p.is_null() {
        drop(PyErr::take(obj.py()));
        return Err(lone_surrogate());
    }
    Ok(len as usize)
}

/// A map key or attribute name: a non-empty `str` (DynamoDB refuses empty names at any
/// depth) with a UTF-8 form.
#[inline]
fn check_name(k: &Bound<'_, PyAny>) -> PyResult<()> {
    if !k.is_exact_instance_of::<PyString>() && !k.is_instance_of::<PyString>() {
        return Err(map_key_error(k));
    }
    if utf8_len(k)? == 0 {
        return Err(CoreError::validation("map keys and attribute names must not be empty").into());
    }
    Ok(())
}

/// `d[key] = value` through the C API directly: PyO3's `set_item` takes and drops an extra
/// reference to each argument, and under the stable ABI every one of those is a function call.
#[inline]
pub fn dict_set(
    d: &Bound<'_, PyDict>,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    // SAFETY: all three are live objects and the GIL is held; PyDict_SetItem does not steal.
    if unsafe { ffi::PyDict_SetItem(d.as_ptr(), key.as_ptr(), value.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(d.py()))
    }
}

/// `{tag: value}`.
#[inline]
pub fn av<'py>(
    py: Python<'py>,
    tag: &Bound<'py, PyString>,
    value: impl IntoPyObject<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let value = value.into_bound_py_any(py)?;
    dict_set(&d, tag.as_any(), &value)?;
    Ok(d)
}

/// `{tag: value}` for a value already held.
#[inline]
pub fn av_of<'py>(
    tag: &Bound<'py, PyString>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(value.py());
    dict_set(&d, tag.as_any(), value)?;
    Ok(d)
}

pub fn is_bytes_like(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
        || obj.is_instance_of::<PyMemoryView>()
}

/// `bytes(obj)` for bytes, bytearray and memoryview (exact bytes are returned as they are).
pub fn to_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_exact_instance_of::<PyBytes>() {
        return Ok(obj.clone());
    }
    obj.py().get_type::<PyBytes>().call1((obj,))
}

fn is_number(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(number_of(obj)?.is_some())
}

/// `{"N": text}` of a number.
pub fn num_av<'py>(py: Python<'py>, num: &Num) -> PyResult<Bound<'py, PyDict>> {
    let text = match num {
        Num::Int(n) if (0..SMALL_INTS).contains(n) => small_int_text(py, *n as usize)?,
        _ => with_n_text(num, |t| ascii_str(py, t))??,
    };
    av_of(intern!(py, "N"), text.as_any())
}

/// A str of ASCII text (number text): decoded as Latin-1, which for ASCII gives the same str
/// and is CPython's leaner path (one scan for the widest character, then a copy).
fn ascii_str<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyString>> {
    let len = ffi::Py_ssize_t::try_from(t.len())
        .map_err(|_| PyErr::from(CoreError::validation("number text is too long")))?;
    // SAFETY: `t` is valid for `len` bytes, GIL held; a new reference or NULL with an error.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeLatin1(t.as_ptr().cast(), len, std::ptr::null()),
        )
        .map(|s| s.cast_into_unchecked::<PyString>())
    }
}

/// The texts of 0..SMALL_INTS, made once: str objects are immutable, so like CPython's small
/// ints they can be shared, and counters, quantities and list indexes are mostly small.
const SMALL_INTS: i64 = 1024;
static SMALL_INT_TEXTS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

fn small_int_text(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyString>> {
    let texts = SMALL_INT_TEXTS.get_or_init(py, || {
        (0..SMALL_INTS)
            .map(|i| PyString::new(py, itoa::Buffer::new().format(i)).unbind())
            .collect()
    });
    Ok(texts[n].bind(py).clone())
}

/// `{"N": str(d)}` of an exact Decimal, the str object itself when it is an exact str (no
/// copy of its text).
pub(crate) fn decimal_av<'py>(d: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = d.py();
    let text = d.str()?;
    check_number_text(text.to_str()?)?;
    if text.is_exact_instance_of::<PyString>() {
        return av_of(intern!(py, "N"), text.as_any());
    }
    let copy = PyString::new(py, text.to_str()?);
    av_of(intern!(py, "N"), copy.as_any())
}

pub fn n_av<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    match number_of(obj)? {
        Some(num) => Ok(Some(num_av(obj.py(), &num)?)),
        None => Ok(None),
    }
}

/// A dict's entries, as owned references: small maps stay on the stack (no allocator call).
pub type Entries<'py> = SmallVec<[(Bound<'py, PyAny>, Bound<'py, PyAny>); 24]>;

/// The entries of a dict in its iteration order, as owned references. An exact dict is read
/// with `PyDict_Next`, without PyO3's per-step size checks (the stable ABI makes each of those
/// a function call); a subclass through its own `items()`, as the pure core reads it, so an
/// `OrderedDict` after `move_to_end` keeps its order.
pub fn dict_entries<'py>(d: &Bound<'py, PyDict>) -> PyResult<Entries<'py>> {
    let py = d.py();
    let mut out = Entries::new();
    if !d.is_exact_instance_of::<PyDict>() {
        for entry in d.call_method0(intern!(py, "items"))?.try_iter()? {
            let (k, v) = entry?.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>()?;
            out.push((k, v));
        }
        return Ok(out);
    }
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `d` is a live dict and the GIL is held (we have `py`); PyDict_Next yields
    // borrowed references, which `from_borrowed_ptr` turns into owned ones at once, so later
    // Python code (e.g. a Decimal's __str__) mutating the dict cannot free them under us.
    unsafe {
        while ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut key, &mut value) != 0 {
            out.push((
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            ));
        }
    }
    Ok(out)
}

/// A new list of `n` items, item `i` made by `item(i)`: filled in place, with no intermediate
/// vector.
pub fn new_list<'py>(
    py: Python<'py>,
    n: usize,
    mut item: impl FnMut(usize) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let len = ffi::Py_ssize_t::try_from(n)
        .map_err(|_| PyErr::from(CoreError::validation("list is too long")))?;
    // SAFETY: the GIL is held; PyList_New returns a new reference or NULL with an error set.
    let list = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?.cast_into_unchecked::<PyList>()
    };
    for i in 0..n {
        let value = item(i)?;
        // SAFETY: `i` < the list's length; PyList_SetItem steals the reference `into_ptr`
        // hands over. A list left partly empty on error is freed safely (empty slots are NULL).
        if unsafe { ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, value.into_ptr()) }
            != 0
        {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(list)
}

/// Item `i` of a list or tuple, as an owned reference; an error (not a crash) if Python code
/// shortened the list meanwhile.
fn seq_item<'py>(seq: &Bound<'py, PyAny>, is_list: bool, i: usize) -> PyResult<Bound<'py, PyAny>> {
    let py = seq.py();
    let i = i as ffi::Py_ssize_t;
    // SAFETY: a live list or tuple (as `is_list` says), GIL held; both calls bounds-check and
    // return a borrowed reference or NULL with IndexError set, made owned at once.
    unsafe {
        let item = if is_list {
            ffi::PyList_GetItem(seq.as_ptr(), i)
        } else {
            ffi::PyTuple_GetItem(seq.as_ptr(), i)
        };
        Bound::from_borrowed_ptr_or_err(py, item)
    }
}

fn mixed_set() -> PyErr {
    CoreError::validation("a set must hold members of one type (str, numbers or bytes)").into()
}

pub fn set_to_av<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = value.py();
    // One C-level pass builds the list that a string set is sent as.
    // SAFETY: a live object, GIL held; PySequence_List returns a new reference or NULL.
    let list = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PySequence_List(value.as_ptr()))?
            .cast_into_unchecked::<PyList>()
    };
    let n = list.len();
    let member = |i: usize| seq_item(list.as_any(), true, i);
    if n == 0 {
        return Err(CoreError::validation(
            "cannot store an empty set (DynamoDB has no empty sets)",
        )
        .into());
    }
    let first = member(0)?;
    if first.is_instance_of::<PyString>() {
        utf8_len(&first)?;
        for i in 1..n {
            // SAFETY: our own new list, GIL held; PyList_GetItem bounds-checks and returns a
            // borrowed reference (or NULL with IndexError set), read at once by type checks
            // that run no Python code, so no owned reference is needed.
            let m = unsafe {
                Borrowed::from_ptr_or_err(py, ffi::PyList_GetItem(list.as_ptr(), i as isize))?
            };
            if !(m.is_exact_instance_of::<PyString>() || m.is_instance_of::<PyString>()) {
                return Err(mixed_set());
            }
            utf8_len(&m)?;
        }
        return av_of(intern!(py, "SS"), list.as_any());
    }
    if is_number(&first)? {
        let out = new_list(py, n, |i| match number_of(&member(i)?)? {
            Some(num) => Ok(PyString::new(py, &n_text(&num)?).into_any()),
            None => Err(mixed_set()),
        })?;
        return av_of(intern!(py, "NS"), out.as_any());
    }
    if is_bytes_like(&first) {
        let out = new_list(py, n, |i| {
            let m = member(i)?;
            if !is_bytes_like(&m) {
                return Err(mixed_set());
            }
            to_bytes(&m)
        })?;
        return av_of(intern!(py, "BS"), out.as_any());
    }
    Err(CoreError::validation(format!(
        "set members must be str, numbers or bytes, got {}",
        type_name(&first)
    ))
    .into())
}

/// The AttributeValues of a map's members (the inside of its `{"M": ...}`).
fn map_members_to_av<'py>(
    value: &Bound<'py, PyDict>,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    if value.is_exact_instance_of::<PyDict>() {
        return exact_map_members_to_av(value, depth);
    }
    // A subclass (an exact dict takes the path above).
    let out = PyDict::new(value.py());
    for (k, v) in dict_entries(value)? {
        check_name(&k)?;
        dict_set(&out, &k, to_av(&v, depth + 1)?.as_any())?;
    }
    Ok(out)
}

fn map_key_error(k: &Bound<'_, PyAny>) -> PyErr {
    CoreError::validation(format!("map keys must be str, got {}", type_name(k))).into()
}

/// [`map_members_to_av`] of an exact dict: its values replaced by their AttributeValues in a
/// copy of it (see [`map_values_in_copy`]).
fn exact_map_members_to_av<'py>(
    value: &Bound<'py, PyDict>,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    map_values_in_copy(value, |k, v| {
        check_name(k)?;
        Ok(to_av(v, depth + 1)?.into_any())
    })
}

/// A copy of an exact dict with each value replaced by `convert(key, value)`. The copy has the
/// input's keys, in order, in a table of the right size (there is no presizing call in the
/// stable ABI), and is a snapshot: Python code run meanwhile (a Decimal's `__str__`) cannot
/// change which entries are converted. Replacing the value of a present key moves no entry,
/// so iterating the copy while doing it is sound.
fn map_values_in_copy<'py>(
    value: &Bound<'py, PyDict>,
    mut convert: impl FnMut(&Bound<'py, PyAny>, &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = value.py();
    // SAFETY: a live dict, GIL held; PyDict_Copy returns a new reference or NULL with an error.
    let out = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyDict_Copy(value.as_ptr()))?
            .cast_into_unchecked::<PyDict>()
    };
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut v: *mut ffi::PyObject = std::ptr::null_mut();
    loop {
        // SAFETY: `out` is a live dict, GIL held. PyDict_Next yields borrowed references,
        // made owned at once, so they outlive any change to `out` itself (only we hold it,
        // but code run meanwhile could still reach it through the gc module).
        let (k, v) = unsafe {
            if ffi::PyDict_Next(out.as_ptr(), &mut pos, &mut key, &mut v) == 0 {
                break;
            }
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, v),
            )
        };
        dict_set(&out, &k, &convert(&k, &v)?)?;
    }
    Ok(out)
}

pub(crate) fn map_to_av<'py>(
    value: &Bound<'py, PyDict>,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let members = map_members_to_av(value, depth)?;
    av_of(intern!(value.py(), "M"), members.as_any())
}

/// `{"L": [...]}` of a list or tuple (`is_list` says which).
fn seq_to_av<'py>(
    seq: &Bound<'py, PyAny>,
    is_list: bool,
    depth: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let py = seq.py();
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    let n = seq.len()?;
    let out = new_list(py, n, |i| {
        Ok(to_av(&seq_item(seq, is_list, i)?, depth + 1)?.into_any())
    })?;
    av_of(intern!(py, "L"), out.as_any())
}

/// One value as an AttributeValue; same type dispatch order as the pure core.
///
/// The common scalars here, in a small stack frame; ints and everything else in functions of
/// their own.
pub fn to_av<'py>(value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Bound<'py, PyDict>> {
    let py = value.py();
    if value.is_exact_instance_of::<PyString>() {
        utf8_len(value)?;
        return av_of(intern!(py, "S"), value);
    }
    if value.is_exact_instance_of::<pyo3::types::PyBool>() {
        return av_of(intern!(py, "BOOL"), value);
    }
    if value.is_exact_instance_of::<PyInt>() {
        return exact_int_av(value);
    }
    if value.is_exact_instance_of::<PyFloat>() {
        // SAFETY: an exact float, GIL held.
        let x = unsafe { ffi::PyFloat_AsDouble(value.as_ptr()) };
        return num_av(py, &Num::Float(x));
    }
    other_to_av(value, depth)
}

#[inline(never)]
fn exact_int_av<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let num = match value.extract::<i64>() {
        Ok(n) => Num::Int(n),
        Err(_) => number_of(value)?.unwrap_or(Num::Int(0)),
    };
    num_av(value.py(), &num)
}

/// [`to_av`] of the values other than exact str, bool, int and float.
#[inline(never)]
fn other_to_av<'py>(value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Bound<'py, PyDict>> {
    let py = value.py();
    if value.is_none() {
        return av(py, intern!(py, "NULL"), true);
    }
    if value.is_exact_instance_of::<PyDict>() {
        // SAFETY: just checked (unlike `cast_exact`, this takes no reference to the type).
        return map_to_av(unsafe { value.cast_unchecked::<PyDict>() }, depth);
    }
    if value.is_exact_instance_of::<PyList>() {
        return seq_to_av(value, true, depth);
    }
    if value.is_exact_instance_of::<PyTuple>() {
        return seq_to_av(value, false, depth);
    }
    // The other exact types of the fallbacks below, none of which an earlier check there can
    // match: ahead of them, since the number check's isinstance(value, Decimal) is slow for a
    // non-number (it looks up `__class__`).
    // SAFETY: a live object; the type objects are static or held by `decimal_type`'s cache.
    unsafe {
        let ty = ffi::Py_TYPE(value.as_ptr());
        if ty == std::ptr::addr_of_mut!(ffi::PyBytes_Type) {
            return av_of(intern!(py, "B"), value);
        }
        if ty == std::ptr::addr_of_mut!(ffi::PySet_Type)
            || ty == std::ptr::addr_of_mut!(ffi::PyFrozenSet_Type)
        {
            return set_to_av(value);
        }
        if ty == decimal_type(py)?.as_type_ptr() {
            return decimal_av(value);
        }
    }
    // Subclasses (str/int enums, OrderedDict, namedtuples…) and the rarer types.
    if value.is_instance_of::<PyString>() {
        utf8_len(value)?;
        return av_of(intern!(py, "S"), value);
    }
    if let Some(d) = n_av(value)? {
        return Ok(d);
    }
    if let Ok(d) = value.cast::<PyDict>() {
        return map_to_av(d, depth);
    }
    if value.is_instance_of::<PyList>() {
        return seq_to_av(value, true, depth);
    }
    if value.is_instance_of::<PyTuple>() {
        return seq_to_av(value, false, depth);
    }
    if is_bytes_like(value) {
        return av(py, intern!(py, "B"), to_bytes(value)?);
    }
    if value.is_instance_of::<PySet>() || value.is_instance_of::<PyFrozenSet>() {
        return set_to_av(value);
    }
    Err(CoreError::validation(format!("cannot store a value of type {}", type_name(value))).into())
}

#[pyfunction]
pub fn to_attribute_value<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    to_av(value, 0)
}

fn item_dict<'a, 'py>(item: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, PyDict>> {
    item.cast::<PyDict>().map_err(|_| {
        CoreError::validation(format!("an item must be a dict, got {}", type_name(item))).into()
    })
}

/// A whole item's AttributeValues: `to_attribute_value(item)["M"]` in one call.
#[pyfunction]
pub fn marshal_item<'py>(item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    map_members_to_av(item_dict(item)?, 0)
}

// ------------------------------------------------------------------------------------------
// Item size (as the pure core's `item_size` documents it)

fn text_size(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if !(v.is_exact_instance_of::<PyString>() || v.is_instance_of::<PyString>()) {
        return Err(CoreError::validation("S value must be a str").into());
    }
    utf8_len(v)
}

fn blob_size(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<PyMemoryView>() {
        return v.getattr(intern!(v.py(), "nbytes"))?.extract::<usize>();
    }
    if v.is_instance_of::<PyBytes>() || v.is_instance_of::<PyByteArray>() {
        return v.len();
    }
    Err(CoreError::validation("B value must be bytes").into())
}

/// About one byte per two significant digits, plus one (never more than DynamoDB counts).
fn number_size(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    let t = raw_number_text(v)?;
    let Some((_, ip, fp, _)) = split_number(t) else {
        return Err(invalid_number(v));
    };
    let total = ip.len() + fp.len();
    let leading = ip
        .bytes()
        .chain(fp.bytes())
        .take_while(|&b| b == b'0')
        .count();
    if leading == total {
        return Ok(1);
    }
    let trailing = ip
        .bytes()
        .chain(fp.bytes())
        .rev()
        .take_while(|&b| b == b'0')
        .count();
    Ok((total - leading - trailing).div_ceil(2) + 1)
}

fn av_size(av: &Bound<'_, PyAny>, depth: usize) -> PyResult<usize> {
    let (tag, v) = av_parts(av)?;
    // Owned: a dict subclass's items() may run Python code.
    let v = v.to_owned();
    match tag {
        Tag::S => text_size(&v),
        Tag::N => number_size(&v),
        Tag::Bool | Tag::Null => Ok(1),
        Tag::B => blob_size(&v),
        Tag::M => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            let Ok(m) = v.cast::<PyDict>() else {
                return Err(CoreError::validation("M value must be a dict").into());
            };
            let mut size = 3;
            for (k, x) in dict_entries(m)? {
                size += 1 + text_size(&k)? + av_size(&x, depth + 1)?;
            }
            Ok(size)
        }
        Tag::L => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            let l = list_of(&v, "L")?;
            let mut size = 3;
            for i in 0..l.len() {
                size += 1 + av_size(&seq_item(l.as_any(), true, i)?, depth + 1)?;
            }
            Ok(size)
        }
        Tag::Ss | Tag::Ns | Tag::Bs => {
            let l = list_of(&v, tag.name())?;
            let mut size = 0;
            for i in 0..l.len() {
                let m = seq_item(l.as_any(), true, i)?;
                size += match tag {
                    Tag::Ss => text_size(&m)?,
                    Tag::Ns => number_size(&m)?,
                    _ => blob_size(&m)?,
                };
            }
            Ok(size)
        }
        Tag::Unknown => Err(CoreError::validation("unknown AttributeValue type").into()),
    }
}

/// DynamoDB's size of an item in AttributeValue form, what its 400 KB limit counts (the
/// rules are the pure core's `item_size`).
#[pyfunction]
pub fn item_size(item: &Bound<'_, PyAny>) -> PyResult<usize> {
    let mut size = 0;
    for (k, v) in dict_entries(item_dict(item)?)? {
        size += text_size(&k)? + av_size(&v, 1)?;
    }
    Ok(size)
}

/// DynamoDB's limit on an item's size (400 KB).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

// ------------------------------------------------------------------------------------------
// Reading

fn invalid_number(text: &Bound<'_, PyAny>) -> PyErr {
    let shown = text.repr().map(|r| r.to_string()).unwrap_or_default();
    CoreError::validation(format!("invalid number text {shown}")).into()
}

/// Whether `t` is number text as DynamoDB returns it.
pub fn is_number_text(t: &str) -> bool {
    split_number(t).is_some()
}

/// `-?\d+`
pub fn is_int_literal(t: &str) -> bool {
    let digits = t.strip_prefix('-').unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The checked text of an `N` value.
pub fn number_text<'a>(text: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    match raw_number_text(text)? {
        t if is_number_text(t) => Ok(t),
        _ => Err(invalid_number(text)),
    }
}

/// The text of an `N` value, not yet checked.
pub(crate) fn raw_number_text<'a>(text: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    str_text(text).ok_or_else(|| invalid_number(text))
}

/// The text of a `str` (or subclass), read from CPython's cached UTF-8 without validating it
/// again (PyO3's `to_str` does, at a cost per call); `None` for other types and for text that
/// has no UTF-8 form (lone surrogates).
pub(crate) fn str_text<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    if !(obj.is_exact_instance_of::<PyString>() || obj.is_instance_of::<PyString>()) {
        return None;
    }
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: a live str, GIL held. The UTF-8 buffer is owned by the str object and lives as
    // long as it (the borrow `'a`); CPython only produces valid UTF-8 there, and returns NULL
    // (with an error, cleared here) for text it cannot encode.
    unsafe {
        let p = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut len);
        if p.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(p.cast::<u8>(), len as usize);
        Some(std::str::from_utf8_unchecked(bytes))
    }
}

/// An integer from checked integer-literal text.
pub fn int_from_text<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyAny>> {
    if t.len() <= 18 {
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n.into_pyobject(py)?.into_any());
        }
    }
    py.get_type::<PyInt>().call1((t,))
}

/// `N` text as int (integer literal) or float.
pub fn parse_n<'py>(text: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = text.py();
    let t = raw_number_text(text)?;
    match quick_number(t) {
        Some(QuickNumber::Int(n)) => return Ok(n.into_pyobject(py)?.into_any()),
        Some(QuickNumber::Float(x)) => return Ok(PyFloat::new(py, x).into_any()),
        None => {}
    }
    if !is_number_text(t) {
        return Err(invalid_number(text));
    }
    if is_int_literal(t) {
        return int_from_text(py, t);
    }
    float_from_text(py, t)
}

/// A number read by [`quick_number`].
pub(crate) enum QuickNumber {
    Int(i64),
    Float(f64),
}

/// The usual `N` texts, read in one pass: `-?\d{1,18}` (an int) and `-?\d+\.\d+` with at
/// most 15 digits in all (a float, e.g. `97.25`); anything else is `None`, for the full check.
/// For the float, the digits as an integer `m` and `10^k` (k fractional digits) are both exact
/// doubles, and IEEE division rounds their exact quotient correctly, so `m / 10^k` is the very
/// double a full parser gives (Clinger's fast path).
pub(crate) fn quick_number(t: &str) -> Option<QuickNumber> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    let mut m: u64 = 0;
    let mut i = 0;
    while let Some(&b) = digits.get(i) {
        if !b.is_ascii_digit() {
            break;
        }
        if i == 18 {
            return None; // 19 digits may not fit an i64: the full path
        }
        m = m * 10 + u64::from(b - b'0');
        i += 1;
    }
    if i == 0 {
        return None;
    }
    if i == digits.len() {
        // At most 18 digits: below 2^63.
        let n = m as i64;
        return Some(QuickNumber::Int(if negative { -n } else { n }));
    }
    if digits[i] != b'.' {
        return None;
    }
    let fraction = &digits[i + 1..];
    if fraction.is_empty() || i + fraction.len() > 15 {
        return None; // "1." is not DynamoDB's number text; long ones take the full parser
    }
    for &b in fraction {
        if !b.is_ascii_digit() {
            return None;
        }
        m = m * 10 + u64::from(b - b'0');
    }
    let x = m as f64 / POWERS[fraction.len()];
    Some(QuickNumber::Float(if negative { -x } else { x }))
}

pub fn float_from_text<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyAny>> {
    let x: f64 = t
        .parse()
        .map_err(|_| CoreError::validation(format!("invalid number text {t:?}")))?;
    Ok(PyFloat::new(py, x).into_any())
}

pub fn decimal_from_text<'py>(py: Python<'py>, t: &str) -> PyResult<Bound<'py, PyAny>> {
    decimal_type(py)?.call1((t,))
}

pub fn binary_from_av<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if v.is_exact_instance_of::<PyBytes>() {
        return Ok(v.clone());
    }
    if v.is_instance_of::<PyByteArray>() || v.is_instance_of::<PyMemoryView>() {
        return v.py().get_type::<PyBytes>().call1((v,));
    }
    Err(CoreError::validation("B value must be bytes").into())
}

/// The type tag of an AttributeValue.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tag {
    S,
    N,
    B,
    Bool,
    Null,
    M,
    L,
    Ss,
    Ns,
    Bs,
    Unknown,
}

impl Tag {
    pub fn name(self) -> &'static str {
        match self {
            Tag::S => "S",
            Tag::N => "N",
            Tag::B => "B",
            Tag::Bool => "BOOL",
            Tag::Null => "NULL",
            Tag::M => "M",
            Tag::L => "L",
            Tag::Ss => "SS",
            Tag::Ns => "NS",
            Tag::Bs => "BS",
            Tag::Unknown => "?",
        }
    }
}

/// The interned one-letter tags, looked up once per process.
struct OneLetterTags([(usize, Tag); 5]);

static ONE_LETTER_TAGS: PyOnceLock<OneLetterTags> = PyOnceLock::new();

fn tag_of(key: &Bound<'_, PyAny>) -> Tag {
    let py = key.py();
    // One-character str objects are CPython singletons, so the common tags match by pointer.
    let tags = ONE_LETTER_TAGS.get_or_init(py, || {
        let ptr = |t: &str| PyString::intern(py, t).as_ptr() as usize;
        OneLetterTags([
            (ptr("S"), Tag::S),
            (ptr("N"), Tag::N),
            (ptr("M"), Tag::M),
            (ptr("L"), Tag::L),
            (ptr("B"), Tag::B),
        ])
    });
    let p = key.as_ptr() as usize;
    if let Some((_, tag)) = tags.0.iter().find(|(t, _)| *t == p) {
        return *tag;
    }
    match key.cast::<PyString>().ok().and_then(|s| s.to_str().ok()) {
        Some("S") => Tag::S,
        Some("N") => Tag::N,
        Some("B") => Tag::B,
        Some("BOOL") => Tag::Bool,
        Some("NULL") => Tag::Null,
        Some("M") => Tag::M,
        Some("L") => Tag::L,
        Some("SS") => Tag::Ss,
        Some("NS") => Tag::Ns,
        Some("BS") => Tag::Bs,
        _ => Tag::Unknown,
    }
}

fn not_an_av(av: &Bound<'_, PyAny>) -> PyErr {
    let shown = av.repr().map(|r| r.to_string()).unwrap_or_default();
    CoreError::validation(format!("not an AttributeValue: {shown}")).into()
}

/// The single `(tag, value)` of an AttributeValue dict; the value is borrowed from the dict.
///
/// Nothing here runs Python code, so the key can be read without taking a reference; callers
/// take an owned reference to the value (`to_owned`) before anything that could run Python
/// code (converting a container's members), and may use it borrowed for scalars.
pub fn av_parts<'a, 'py>(av: &'a Bound<'py, PyAny>) -> PyResult<(Tag, Borrowed<'a, 'py, PyAny>)> {
    let py = av.py();
    let dict = match av.cast_exact::<PyDict>() {
        Ok(d) => d,
        Err(_) => av.cast::<PyDict>().map_err(|_| not_an_av(av))?,
    };
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: a live dict with the GIL held. PyDict_Next yields borrowed references that stay
    // valid while `av` is alive and unchanged: the key is only read below, and callers own the
    // value before running any Python code (see above).
    let entry = unsafe {
        if ffi::PyDict_Size(dict.as_ptr()) == 1
            && ffi::PyDict_Next(dict.as_ptr(), &mut pos, &mut key, &mut value) != 0
        {
            Some((Borrowed::from_ptr(py, key), Borrowed::from_ptr(py, value)))
        } else {
            None
        }
    };
    match entry {
        Some((k, v)) if k.is_exact_instance_of::<PyString>() || k.is_instance_of::<PyString>() => {
            Ok((tag_of(&k), v))
        }
        _ => Err(not_an_av(av)),
    }
}

/// Whether every member of a list is a `str`, checked through borrowed references (no Python
/// code runs meanwhile).
fn all_str(l: &Bound<'_, PyList>) -> bool {
    let py = l.py();
    (0..l.len()).all(|i| {
        // SAFETY: a live list, GIL held, `i` below its length (nothing can shrink it here);
        // the borrowed member is only type-checked.
        let m = unsafe { ffi::PyList_GetItem(l.as_ptr(), i as ffi::Py_ssize_t) };
        !m.is_null() && unsafe { Borrowed::from_ptr(py, m) }.is_instance_of::<PyString>()
    })
}

fn list_of<'a, 'py>(v: &'a Bound<'py, PyAny>, what: &str) -> PyResult<&'a Bound<'py, PyList>> {
    v.cast::<PyList>()
        .map_err(|_| CoreError::validation(format!("{what} value must be a list")).into())
}

pub fn from_av<'py>(av: &Bound<'py, PyAny>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let (tag, v) = av_parts(av)?;
    if tag == Tag::N {
        // A number is parsed from the borrowed text: no Python code runs meanwhile.
        return parse_n(&v);
    }
    value_of(tag, v.to_owned(), depth)
}

/// The Python value of an AttributeValue's `(tag, value)`.
pub fn value_of<'py>(tag: Tag, v: Bound<'py, PyAny>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    match tag {
        Tag::S => {
            if v.is_exact_instance_of::<PyString>() || v.is_instance_of::<PyString>() {
                Ok(v)
            } else {
                Err(CoreError::validation("S value must be a str").into())
            }
        }
        Tag::N => parse_n(&v),
        Tag::Bool => {
            if v.is_instance_of::<pyo3::types::PyBool>() {
                Ok(v)
            } else {
                Err(CoreError::validation("BOOL value must be a bool").into())
            }
        }
        Tag::Null => Ok(py.None().into_bound(py)),
        Tag::M => {
            let Ok(m) = v.cast::<PyDict>() else {
                return Err(CoreError::validation("M value must be a dict").into());
            };
            Ok(map_from_av(m, depth)?.into_any())
        }
        Tag::L => {
            let l = list_of(&v, "L")?;
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            let out = new_list(py, l.len(), |i| {
                from_av(&seq_item(l.as_any(), true, i)?, depth + 1)
            })?;
            Ok(out.into_any())
        }
        Tag::B => binary_from_av(&v),
        Tag::Ss => {
            let l = v.cast::<PyList>().ok().filter(|l| all_str(l));
            match l {
                // SAFETY: a live list, GIL held; PySet_New copies it in C (str members hash
                // without running Python code) and returns a new reference or NULL.
                Some(l) => unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySet_New(l.as_ptr())) },
                None => Err(CoreError::validation("SS value must be a list of str").into()),
            }
        }
        Tag::Ns => {
            let l = list_of(&v, "NS")?;
            let mut out = Vec::with_capacity(l.len());
            for x in l.iter() {
                out.push(parse_n(&x)?);
            }
            Ok(PySet::new(py, out)?.into_any())
        }
        Tag::Bs => {
            let l = list_of(&v, "BS")?;
            let mut out = Vec::with_capacity(l.len());
            for x in l.iter() {
                out.push(binary_from_av(&x)?);
            }
            Ok(PySet::new(py, out)?.into_any())
        }
        Tag::Unknown => Err(CoreError::validation("unknown AttributeValue type").into()),
    }
}

/// The values of a map's member AttributeValues (the inside of an `{"M": ...}`).
fn map_from_av<'py>(m: &Bound<'py, PyDict>, depth: usize) -> PyResult<Bound<'py, PyDict>> {
    if depth >= MAX_DEPTH {
        return Err(too_deep());
    }
    if m.is_exact_instance_of::<PyDict>() {
        return map_values_in_copy(m, |_, x| from_av(x, depth + 1));
    }
    let out = PyDict::new(m.py());
    for (k, x) in dict_entries(m)? {
        dict_set(&out, &k, &from_av(&x, depth + 1)?)?;
    }
    Ok(out)
}

#[pyfunction]
pub fn from_attribute_value<'py>(av: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    from_av(av, 0)
}

/// A whole item's values: `from_attribute_value({"M": item})` in one call.
#[pyfunction]
pub fn unmarshal_item<'py>(item: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    map_from_av(item_dict(item)?, 0)
}
