import 'server-only';

// Unsigned LEB128 varints and zigzag for the history bodies' binary columns. Plain arithmetic,
// not bit operators, so every safe integer (timestamps, memory in bytes) round-trips.

export class ByteWriter {
  private bytes: number[] = [];

  uint(value: number): this {
    let rest = value;
    while (rest >= 0x80) {
      this.bytes.push((rest % 0x80) + 0x80);
      rest = Math.floor(rest / 0x80);
    }
    this.bytes.push(rest);
    return this;
  }

  /** A signed integer, zigzagged so that small magnitudes of either sign stay short. */
  int(value: number): this {
    return this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  raw(chunk: Uint8Array): this {
    for (const byte of chunk) this.bytes.push(byte);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bytes);
  }
}

export class ByteReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.position >= this.bytes.length;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) throw new Error('history body: a number runs past the end');
      value += (byte % 0x80) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
  }

  int(): number {
    const zigzag = this.uint();
    return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
  }

  take(length: number): Uint8Array {
    if (this.position + length > this.bytes.length)
      throw new Error('history body: a field runs past the end');
    const chunk = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return chunk;
  }
}
