/**
 * The Store contract (test/contract/store-contract.ts), run against every
 * Node backend in test/helpers/store-backends.ts.
 */
import { BACKENDS } from '../helpers/store-backends.ts';
import { storeContract } from './store-contract.ts';

for (const backend of BACKENDS) storeContract(backend);
