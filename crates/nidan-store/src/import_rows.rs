//! What both backends check before writing a seed import.

use std::collections::HashSet;

use nidan_service::StoreError;
use nidan_service::ports::ImportRow;

/// Refuses an import that names an account twice. The batched writes apply each kind of
/// statement to all rows at once, so two rows for one account would not mean "the later one
/// wins" as row-by-row writes did; the service never sends such a batch (it refuses a file with
/// an email twice), so this only guards the contract. Nothing is written.
pub(crate) fn each_account_once(rows: &[ImportRow]) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(rows.len());
    if rows
        .iter()
        .all(|r| seen.insert(r.credential.user_id.as_str()))
    {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "an account appears twice in one import",
        ))
    }
}
