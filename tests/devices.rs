//! The EVB's I2C devices seen from Linux, and the monitor that inspects the machine and sets
//! device values while the guest runs.

mod support;

use support::{shared_image, Emulator};

fn fixture_shell() -> Option<Emulator> {
    let image = shared_image("ast2600-fixture.img.xz")?;
    let mut emu = Emulator::start(&["--flash", image.to_str().unwrap()]);
    emu.expect("FIXTURE-READY");
    emu.send("\r");
    emu.expect("# ");
    Some(emu)
}

#[test]
fn guest_reads_eeprom_and_a_temperature_the_host_sets() {
    let Some(mut emu) = fixture_shell() else {
        return;
    };
    emu.send("head -c 26 /sys/bus/i2c/devices/7-0050/eeprom; echo\r");
    emu.expect("ast-emu ast2600-evb EEPROM");
    emu.expect("# ");
    emu.send("echo T=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r");
    emu.expect("T=35000");
    emu.expect("# ");
    // The monitor (Ctrl-a c) sets the sensor while the guest runs.
    emu.send("\x01ctemp 55.0\r");
    emu.expect("now reads 55 C");
    emu.send("echo T=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)\r");
    emu.expect("T=55000");
    emu.expect("# ");
    emu.send("poweroff -f\r");
    assert_eq!(emu.wait().code(), Some(0));
}

#[test]
fn monitor_reads_registers_memory_and_the_memory_map() {
    let Some(mut emu) = fixture_shell() else {
        return;
    };
    emu.send("\x01cinfo registers\r");
    emu.expect("cpsr =");
    emu.send("\x01cinfo mtree\r");
    emu.expect("0x1e784000-0x1e784fff uart5");
    // The flash window: the first word of the image (u-boot's reset vector).
    emu.send("\x01cx/4 0x20000000\r");
    emu.expect("0x20000000: 0xea0000c0");
    emu.send("\x01cquit\r");
    assert_eq!(emu.wait().code(), Some(0));
}
