//! `dynamo_bao._native`: the Rust core of dynamo-bao.
//!
//! This file only registers; each concern lives in its own module. The pure-Python core
//! (`dynamo_bao.core._pure`) is the reference: both must give identical results and raise the
//! same `dynamo_bao.exceptions` classes.

use pyo3::prelude::*;

mod encode;
mod errors;
mod keys;
mod marshal;
mod number;
mod py_types;
mod schema;
mod tenant;
mod wire;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NAME", "native")?;
    m.add("SK_SEPARATOR", keys::SK_SEPARATOR)?;
    m.add("MAX_DEPTH", marshal::MAX_DEPTH)?;
    m.add_function(wrap_pyfunction!(tenant::validate_tenant_id, m)?)?;
    m.add_function(wrap_pyfunction!(tenant::validate_model_prefix, m)?)?;
    m.add_function(wrap_pyfunction!(keys::format_primary_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::format_gsi_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::format_unique_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::format_iteration_key, m)?)?;
    m.add_function(wrap_pyfunction!(keys::iteration_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(keys::format_primary_id, m)?)?;
    m.add_function(wrap_pyfunction!(keys::parse_primary_id, m)?)?;
    m.add_function(wrap_pyfunction!(encode::encode_index_value, m)?)?;
    m.add_function(wrap_pyfunction!(marshal::to_attribute_value, m)?)?;
    m.add_function(wrap_pyfunction!(marshal::from_attribute_value, m)?)?;
    m.add_function(wrap_pyfunction!(marshal::marshal_item, m)?)?;
    m.add_function(wrap_pyfunction!(marshal::unmarshal_item, m)?)?;
    m.add_function(wrap_pyfunction!(marshal::item_size, m)?)?;
    m.add("MAX_ITEM_BYTES", marshal::MAX_ITEM_BYTES)?;
    m.add("MAX_PARTITION_KEY_BYTES", keys::MAX_PARTITION_KEY_BYTES)?;
    m.add("MAX_SORT_KEY_BYTES", keys::MAX_SORT_KEY_BYTES)?;
    m.add_class::<schema::Schema>()?;
    m.add("MAX_JSON_DEPTH", wire::MAX_JSON_DEPTH)?;
    m.add_function(wrap_pyfunction!(wire::encode_request, m)?)?;
    m.add_function(wrap_pyfunction!(wire::decode_response, m)?)?;
    Ok(())
}
