//! Slow test: error bars are calibrated over many seeds. Runs with THERMOGRAD_SLOW=1.

mod common;

use common::*;
use thermograd_estimators::*;

#[test]
fn bar_and_mbar_error_bars_are_calibrated_over_200_seeds() {
    if std::env::var("THERMOGRAD_SLOW").is_err() {
        return;
    }
    let states = [
        Harmonic { k: 1.0, o: 0.0 },
        Harmonic { k: 2.0, o: 0.5 },
        Harmonic { k: 4.0, o: 1.0 },
    ];
    let exact_bar = 0.5 * 2.0f64.ln();
    let exact_mbar = [0.0, 0.5 * 2.0f64.ln(), 0.5 * 4.0f64.ln()];
    let n = 500;
    let seeds = 200;
    let (mut bar_ok, mut mbar_ok1, mut mbar_ok2) = (0, 0, 0);
    for seed in 0..seeds {
        let (w_f, w_r) = harmonic_works(states[0], states[1], n, n, 10_000 + seed);
        let b = bar(&w_f, &w_r, &BarConfig::default()).unwrap();
        if ((b.delta_f - exact_bar) / b.std_err).abs() < 2.0 {
            bar_ok += 1;
        }
        let mut r = rng(20_000 + seed);
        let (_, u_kn) = harmonic_u_kn(&states, &[n; 3], &states, &mut r);
        let m = Mbar::new(&u_kn, &[n; 3], &MbarConfig::default()).unwrap();
        let d = m.free_energy_differences().unwrap();
        if ((d.delta_f[0][1] - exact_mbar[1]) / d.std_err[0][1]).abs() < 2.0 {
            mbar_ok1 += 1;
        }
        if ((d.delta_f[0][2] - exact_mbar[2]) / d.std_err[0][2]).abs() < 2.0 {
            mbar_ok2 += 1;
        }
    }
    for (name, ok) in [
        ("BAR", bar_ok),
        ("MBAR 0→1", mbar_ok1),
        ("MBAR 0→2", mbar_ok2),
    ] {
        let frac = ok as f64 / seeds as f64;
        eprintln!("{name}: fraction within 2σ = {frac}");
        assert!((0.90..=0.99).contains(&frac), "{name}: {frac}");
    }
}
