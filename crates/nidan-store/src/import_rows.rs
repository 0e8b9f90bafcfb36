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

/// The rows in the order of their account ids. Ids are random, so inserting in input order
/// touches index pages at random places; in id order the indexes keyed by the account id fill
/// one page after the other, which keeps the pages a transaction dirties (and the WAL it
/// writes) close to the size of the data.
pub(crate) fn by_account(rows: &[ImportRow]) -> Vec<&ImportRow> {
    let mut sorted: Vec<&ImportRow> = rows.iter().collect();
    sorted.sort_unstable_by(|a, b| a.credential.user_id.cmp(&b.credential.user_id));
    sorted
}
