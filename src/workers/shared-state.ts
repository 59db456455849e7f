// The console's PAUSE and DISABLE in force across the workers. A worker started again after a
// crash begins unpaused and enabled; the primary replays this state to it, so that a PAUSE
// taken for a failover or maintenance still holds every transaction when a worker comes back.
import type { AdminCommand } from '../admin/commands.js';

export class SharedAdminState {
  private pausedAll = false;
  private readonly pausedDatabases = new Set<string>();
  private readonly disabledDatabases = new Set<string>();

  /** Follows an instance-wide command as Pgtide's pause(), resume() and setDisabled() do. */
  apply(command: AdminCommand): void {
    switch (command.kind) {
      case 'pause':
        if (command.database === null) this.pausedAll = true;
        else this.pausedDatabases.add(command.database);
        return;
      case 'kill':
        // KILL leaves its database (without a name, every one) paused until RESUME.
        if (command.database === null) this.pausedAll = true;
        else this.pausedDatabases.add(command.database);
        return;
      case 'resume':
        if (command.database !== null) this.pausedDatabases.delete(command.database);
        else this.pausedAll = false;
        return;
      case 'disable':
        this.disabledDatabases.add(command.database);
        return;
      case 'enable':
        this.disabledDatabases.delete(command.database);
        return;
    }
  }

  /** The commands that bring a fresh worker to this state. */
  replay(): AdminCommand[] {
    const commands: AdminCommand[] = this.pausedAll ? [{ kind: 'pause', database: null }] : [];
    for (const database of this.pausedDatabases) commands.push({ kind: 'pause', database });
    for (const database of this.disabledDatabases) commands.push({ kind: 'disable', database });
    return commands;
  }
}
