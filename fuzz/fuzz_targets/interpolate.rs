//! `${env:…}`/`${file:…}` templates: never panics, never reads outside the base directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dsr::fuzzing::check_template(data);
});
