//! Playbook text -> parse -> validate: never panics, and every error points into the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dsr::fuzzing::check_playbook(data);
});
