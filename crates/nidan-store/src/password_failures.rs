//! Wrong passwords per sign-in email: the statements, written once for both backends.
//!
//! An attempt is counted *before* its password is judged, by one conditional statement that
//! wins only if the count is still the one the throttle decision was made on; a right password
//! then deletes the row. So parallel guesses on any number of nodes get exactly as many judged
//! passwords as the schedule allows, and the database, not a node's memory, decides.

crate::sql!(
    /// (failures, last failure) of a subject.
    READ = "SELECT failures, last_failure_at FROM password_failures WHERE subject = $1"
);

crate::sql!(
    /// Counts one attempt if the count is still `$3` (a missing row counts as 0). Parameters:
    /// subject, now, the count seen.
    RESERVE = "INSERT INTO password_failures (subject, failures, last_failure_at) VALUES ($1, 1, $2)
     ON CONFLICT (subject) DO UPDATE SET failures = password_failures.failures + 1, last_failure_at = $2
     WHERE password_failures.failures = $3"
);

crate::sql!(
    /// Forgets a subject's count.
    CLEAR = "DELETE FROM password_failures WHERE subject = $1"
);
