// The console's PAUSE, DISABLE and SET in force across the workers. A worker started again
// after a crash begins unpaused, enabled and with the file's settings; the primary replays this
// state to it, so that a PAUSE taken for a failover or maintenance still holds every
// transaction when a worker comes back, and a SET pool size is still every worker's.
import type { AdminCommand } from '../admin/commands.js';

export class SharedAdminState {
  /** SET values by key, the last one of each; a reload reads the file again and drops them. */
  private readonly settings = new Map<string, AdminCommand & { kind: 'set' }>();
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
      case 'set':
        this.settings.set(command.key, command);
        return;
      case 'reload':
        this.settings.clear();
        return;
    }
  }

  /** The commands that bring a fresh worker to this state. */
  replay(): AdminCommand[] {
    // Settings first: a PAUSE replayed after them holds pools of the set sizes.
    const commands: AdminCommand[] = [...this.settings.values()];
    if (this.pausedAll) commands.push({ kind: 'pause', database: null });
    for (const database of this.pausedDatabases) commands.push({ kind: 'pause', database });
    for (const database of this.disabledDatabases) commands.push({ kind: 'disable', database });
    return commands;
  }
}
