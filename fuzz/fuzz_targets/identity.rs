//! The identity parser: never panics; what it accepts is declared, trimmed and control-free.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dsr::fuzzing::check_identity(data);
});
