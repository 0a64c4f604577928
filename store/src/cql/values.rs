//! Conversions between the store's values and CQL's, and reading results.

use std::collections::HashMap;

use scylla::{response::query_result::QueryResult, value::CqlValue};
use serde::{Deserialize, Serialize};

use crate::{error::StoreError, error::StoreResult, records::UserId};

pub(crate) use crate::records::now_ms;

/// A driver error as a store error: retryable unless it is clearly the request's fault.
pub(super) fn cql_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("cql: {e}"))
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("cql: {e}"))
}

/// Ids and seqs are u64; CQL has signed 64-bit integers. The mapping is a bit-cast, so every
/// value round-trips (ids and seqs stay far below 2^63, keeping CQL's order numeric).
pub(super) fn to_cql(v: u64) -> i64 {
    v as i64
}

pub(super) fn from_cql(v: i64) -> u64 {
    v as u64
}

/// Message bytes per unlogged batch: under Cassandra's default 50 KiB failure threshold
/// with room for the statements' other values.
pub(super) const MAX_BATCH_BYTES: usize = 32 * 1024;

pub(super) fn day_of(ms: i64) -> i64 {
    ms.max(0) / 86_400_000
}

/// Rows of a result as `T`.
pub(super) fn rows<T>(result: QueryResult) -> StoreResult<Vec<T>>
where
    T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    let rows = result.into_rows_result().map_err(corrupt)?;
    rows.rows::<T>()
        .map_err(corrupt)?
        .map(|r| r.map_err(corrupt))
        .collect()
}

/// The first row of a result as `T`, if any.
pub(super) fn first<T>(result: QueryResult) -> StoreResult<Option<T>>
where
    T: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
{
    Ok(rows::<T>(result)?.into_iter().next())
}

/// What a lightweight transaction said: applied, and the current values of the columns it
/// checked when not.
pub(super) fn lwt(result: QueryResult) -> StoreResult<(bool, HashMap<String, CqlValue>)> {
    let rows = result.into_rows_result().map_err(corrupt)?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let row = rows
        .maybe_first_row::<scylla::value::Row>()
        .map_err(corrupt)?
        .ok_or_else(|| corrupt("empty LWT result"))?;
    let mut applied = false;
    let mut values = HashMap::new();
    for (name, value) in names.into_iter().zip(row.columns) {
        match (name.as_str(), value) {
            ("[applied]", Some(CqlValue::Boolean(b))) => applied = b,
            (_, Some(v)) => {
                values.insert(name, v);
            }
            (_, None) => {}
        }
    }
    Ok((applied, values))
}

pub(super) fn bigint(values: &HashMap<String, CqlValue>, name: &str) -> Option<i64> {
    match values.get(name) {
        Some(CqlValue::BigInt(v)) => Some(*v),
        _ => None,
    }
}

pub(super) fn json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(text)?)
}

/// `(epoch, last_seq, last_message)` of a `room_heads` row.
pub(super) type HeadRow = (Option<i64>, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);

pub(super) fn pair(a: UserId, b: UserId) -> (i64, i64) {
    (to_cql(a.min(b)), to_cql(a.max(b)))
}
