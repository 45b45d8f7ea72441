#![no_main]
// The invariants live in kfcheck's src/fuzzing.rs, next to the code they guard.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kfcheck::fuzzing::jupyter_messages(data));
