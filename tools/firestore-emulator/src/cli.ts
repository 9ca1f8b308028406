#!/usr/bin/env node
import { start } from "./index";

void start();
