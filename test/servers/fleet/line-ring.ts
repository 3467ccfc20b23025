// Keeps the last N lines a process wrote, so a failure message can quote what the server said.

export class LineRing {
  private readonly lines: string[] = [];
  private rest = "";

  constructor(private readonly capacity: number) {}

  /** Appends a chunk of output, which may end in the middle of a line. */
  write(chunk: string): void {
    const parts = (this.rest + chunk).split("\n");
    this.rest = parts.pop() ?? "";
    for (const line of parts) this.push(line);
  }

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }

  text(): string {
    return [...this.lines, ...(this.rest ? [this.rest] : [])].join("\n");
  }
}
