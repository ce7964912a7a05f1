//! The `backup` command. All work happens in the library; `cli` parses
//! arguments, prints, and maps errors to exit codes (docs/exit-codes.md).

mod cli;

/// mimalloc: the save pipeline frees on one thread what another allocated
/// (walker → assembler → pool); glibc's malloc makes the no-change save
/// twice as slow (docs/performance.md). Built with arenas committed on
/// demand (see .cargo/config.toml).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys
/// exports no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Return freed memory to the system after 50 ms instead of v3's 1 s: a
    // first save of 100k files peaks at 46–51 MB instead of 55–70 MB. 10 ms
    // gave 36–39 MB but cost ~5 % of the save's wall time in page faults and
    // madvise (docs/performance.md). MIMALLOC_PURGE_DELAY still overrides it.
    // SAFETY: sets an integer option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 50) };
    cli::main()
}
