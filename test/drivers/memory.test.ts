import { MemoryDriver } from '../../src/drivers/memory.js';
import { driverConformance } from './conformance.js';

driverConformance('memory', async () => ({ driver: new MemoryDriver(), largeSize: 3 * 1024 * 1024 }));
